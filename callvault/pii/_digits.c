/* Digit runs in compiled code: the optional fast path of callvault.pii.recognizers.numbers.
 *
 * One Scanner finds the runs the "digits" pattern of NumberRecognizer matches (the same
 * leftmost, greedy-with-backtracking answer as ``re.finditer`` over that pattern) and
 * classifies each one as the pure-Python code does: MOD 11-2, Luhn, landline and 400/800
 * shapes, codes by context. Context words are searched with the same compiled ``re``
 * patterns (the Scanner calls their ``search``), so the words live in one place. A run
 * the compiled path does not handle (a non-ASCII character inside, Chinese digits next to
 * it, letters before a 7-8 digit run) goes to the Python fallback the Scanner was given.
 *
 * The pure-Python path is the reference: tests/pii/test_compiled.py checks that both give
 * the same entities on generated and random text whenever this module is built.
 *
 * Also here, for the same engine: PrefixTest (does one of the ways a pattern's match can
 * begin occur in a text or window; callvault/pii/prefixes.py builds them) and Hits with
 * record_hit (the prefilter's Hyperscan call per text). The module is optional (setup.py):
 * every user of it has a pure-Python path with the same results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <time.h>

/* A PrefixTest: the ways matches of some patterns can begin (callvault/pii/prefixes.py):
 * up to six character sets in a row, of fold keys, as code point ranges. */
typedef struct {
    Py_UCS4 low, high;
} Range;

#define MAX_PREFIX 6

typedef struct {
    int length;
    Py_ssize_t start[MAX_PREFIX], count[MAX_PREFIX]; /* each set: its ranges in PrefixTest.ranges */
} Prefix;

typedef struct {
    PyObject_HEAD
    Prefix *prefixes;
    Py_ssize_t prefix_count;
    Range *ranges;
    Py_ssize_t range_count;
    /* which prefixes a key can begin: the first sets cut into disjoint intervals, each
     * with the prefixes whose first set holds it (interval i: keys from bounds[i] up to
     * bounds[i + 1], its prefixes members[offsets[i]] .. members[offsets[i + 1]]) */
    Py_UCS4 *bounds;
    Py_ssize_t bound_count;
    Py_ssize_t *offsets;
    int *members;
    uint16_t *bmp; /* interval of each key below 0x10000 (NO_INTERVAL: none), to skip the search */
} PrefixTest;

#define NO_INTERVAL 0xFFFF

static PyTypeObject PrefixTestType;

typedef struct {
    PyObject_HEAD
    PyObject *entity;        /* Entity class */
    PyObject *fallback;      /* fallback(text, start, end) -> list[Entity] */
    PyObject *bare_passport; /* bare_passport(text, start, end) -> int | None */
    PyObject *asked_before;  /* asked_before(text, start, words) -> bool */
    PyObject *card_search, *negative_search, *phone_search, *code_search, *code_negative_search;
    PyObject *card, *code;   /* the patterns themselves, for asked_before */
    PyObject *mobile_fullmatch;
    PyObject *provinces;     /* frozenset of two-digit strings */
    Py_UCS4 negative_after[64];
    Py_ssize_t negative_after_count;
    PyObject *name;
    PyObject *card_first, *negative_first, *phone_first, *code_first, *code_negative_first; /* PrefixTest or NULL */
    PyObject *t_id, *t_card, *t_phone, *t_code;
    PyObject *s_100, *s_095, *s_090;
} Scanner;

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;
    int has_newline; /* -1: not looked up yet */
    PyObject *text;
} Text;

#define CH(t, i) PyUnicode_READ((t)->kind, (t)->data, (i))
#define ASCII_DIGIT(c) ((c) >= '0' && (c) <= '9')

static inline int at_digit(const Text *t, Py_ssize_t i) { return i >= 0 && i < t->n && ASCII_DIGIT(CH(t, i)); }

/* ---- the pattern ------------------------------------------------------------------ */

/* Where the body [0-9](unit){3,24}[Xx]?(?![0-9]) starting at r ends, or -1. */
static Py_ssize_t body_end(const Text *t, Py_ssize_t r) {
    Py_ssize_t ends[25];
    Py_ssize_t pos, n = t->n;
    int count = 0;
    if (!at_digit(t, r))
        return -1;
    pos = r + 1;
    while (count < 24 && pos < n) {
        Py_UCS4 c = CH(t, pos);
        if ((c == ' ' || c == '-') && at_digit(t, pos + 1)) {
            pos += 2;
        } else if (ASCII_DIGIT(c)) {
            pos += 1;
        } else if (c == 0xFF0C || c == ',') { /* ， , */
            Py_ssize_t q = pos + 1, m = 0;
            if (q < n && CH(t, q) == ' ')
                q++;
            while (m < 5 && at_digit(t, q + m))
                m++;
            if (m != 3 && m != 4)
                break;
            pos = q + 1;
        } else {
            break;
        }
        ends[++count] = pos;
    }
    for (int j = count; j >= 3; j--) {
        Py_ssize_t e = ends[j];
        if (e < n) {
            Py_UCS4 c = CH(t, e);
            if ((c == 'X' || c == 'x') && !at_digit(t, e + 1))
                return e + 1;
            if (ASCII_DIGIT(c))
                continue;
        }
        return e;
    }
    return -1;
}

/* (?:(?:\+|00)86[ \-]?|\((?:\+|00)86\)[ \-]?) at p: where it ends, or -1. */
static Py_ssize_t prefix_end(const Text *t, Py_ssize_t p) {
    Py_ssize_t q = p, n = t->n;
    int paren = 0;
    if (q < n && CH(t, q) == '(') {
        paren = 1;
        q++;
    }
    if (q < n && CH(t, q) == '+')
        q += 1;
    else if (q + 1 < n && CH(t, q) == '0' && CH(t, q + 1) == '0')
        q += 2;
    else
        return -1;
    if (!(q + 1 < n && CH(t, q) == '8' && CH(t, q + 1) == '6'))
        return -1;
    q += 2;
    if (paren) {
        if (!(q < n && CH(t, q) == ')'))
            return -1;
        q++;
    }
    if (q < n && (CH(t, q) == ' ' || CH(t, q) == '-'))
        q++;
    return q;
}

/* (?:\(0\d{2,3}\)[ \-]?) at q (\d: any Unicode decimal, as in re): where it ends, or -1. */
static Py_ssize_t area_end(const Text *t, Py_ssize_t q) {
    Py_ssize_t n = t->n, m = 0;
    if (!(q + 1 < n && CH(t, q) == '(' && CH(t, q + 1) == '0'))
        return -1;
    while (m < 3 && q + 2 + m < n && Py_UNICODE_ISDECIMAL(CH(t, q + 2 + m)))
        m++;
    if (m < 2 || !(q + 2 + m < n && CH(t, q + 2 + m) == ')'))
        return -1;
    q += 3 + m;
    if (q < n && (CH(t, q) == ' ' || CH(t, q) == '-'))
        q++;
    return q;
}

/* The whole pattern at p, in re's backtracking order: with the country prefix, then without;
 * for each, with the area code, then without. */
static Py_ssize_t match_at(const Text *t, Py_ssize_t p) {
    Py_ssize_t starts[2] = {prefix_end(t, p), p};
    for (int i = 0; i < 2; i++) {
        Py_ssize_t q = starts[i], r, e;
        if (q < 0)
            continue;
        r = area_end(t, q);
        if (r >= 0 && (e = body_end(t, r)) >= 0)
            return e;
        if ((e = body_end(t, q)) >= 0)
            return e;
    }
    return -1;
}

/* ---- classification ---------------------------------------------------------------- */

static int has_newline(Text *t) {
    if (t->has_newline < 0)
        t->has_newline = PyUnicode_FindChar(t->text, '\n', 0, t->n, 1) >= 0;
    return t->has_newline;
}

/* fold_key(): the ASCII letter re's IGNORECASE takes a character for, else itself */
static inline Py_UCS4 fold_key(Py_UCS4 c) {
    if (c < 128)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    switch (c) {
    case 0x130: case 0x131: return 'i';
    case 0x17F: return 's';
    case 0x212A: return 'k';
    default: return c;
    }
}

static inline int in_ranges(const Range *ranges, Py_ssize_t count, Py_UCS4 key) {
    for (Py_ssize_t i = 0; i < count; i++)
        if (ranges[i].low <= key && key <= ranges[i].high)
            return 1;
    return 0;
}

/* The interval holding key (bounds[i] <= key < bounds[i + 1]), or -1. */
static Py_ssize_t interval_of(const PrefixTest *f, Py_UCS4 key) {
    Py_ssize_t low = 0, high = f->bound_count - 1; /* intervals: 0 .. bound_count - 2 */
    if (f->bound_count < 2 || key < f->bounds[0] || key >= f->bounds[f->bound_count - 1])
        return -1;
    while (high - low > 1) {
        Py_ssize_t middle = (low + high) / 2;
        if (f->bounds[middle] <= key)
            low = middle;
        else
            high = middle;
    }
    return low;
}

/* Does a prefix begin in [low, high) and fit before high? */
static int prefixes_occur(const PrefixTest *f, const Text *t, Py_ssize_t low, Py_ssize_t high) {
    for (Py_ssize_t i = low; i < high; i++) {
        Py_UCS4 key = fold_key(CH(t, i));
        Py_ssize_t interval;
        if (key < 0x10000 && f->bmp != NULL) {
            interval = f->bmp[key];
            if (interval == NO_INTERVAL)
                continue;
        } else if ((interval = interval_of(f, key)) < 0) {
            continue;
        }
        for (Py_ssize_t m = f->offsets[interval]; m < f->offsets[interval + 1]; m++) {
            const Prefix *prefix = &f->prefixes[f->members[m]];
            int k;
            if (i + prefix->length > high)
                continue;
            for (k = 1; k < prefix->length; k++)
                if (!in_ranges(f->ranges + prefix->start[k], prefix->count[k], fold_key(CH(t, i + k))))
                    break;
            if (k == prefix->length)
                return 1;
        }
    }
    return 0;
}

static int compare_keys(const void *a, const void *b) {
    Py_UCS4 x = *(const Py_UCS4 *)a, y = *(const Py_UCS4 *)b;
    return x < y ? -1 : x > y;
}

/* bounds, offsets and members from the prefixes' first sets */
static int index_firsts(PrefixTest *f) {
    Py_ssize_t n = 0, unique = 0, total = 0;
    for (Py_ssize_t p = 0; p < f->prefix_count; p++)
        n += 2 * f->prefixes[p].count[0];
    f->bounds = PyMem_Calloc(n + 1, sizeof(Py_UCS4));
    if (f->bounds == NULL)
        return -1;
    for (Py_ssize_t p = 0, j = 0; p < f->prefix_count; p++)
        for (Py_ssize_t r = 0; r < f->prefixes[p].count[0]; r++) {
            const Range *range = &f->ranges[f->prefixes[p].start[0] + r];
            f->bounds[j++] = range->low;
            f->bounds[j++] = range->high + 1;
        }
    qsort(f->bounds, n, sizeof(Py_UCS4), compare_keys);
    for (Py_ssize_t j = 0; j < n; j++)
        if (unique == 0 || f->bounds[unique - 1] != f->bounds[j])
            f->bounds[unique++] = f->bounds[j];
    f->bound_count = unique;
    f->offsets = PyMem_Calloc(unique + 1, sizeof(Py_ssize_t));
    if (f->offsets == NULL)
        return -1;
    /* two passes: count, then fill */
    for (int pass = 0; pass < 2; pass++) {
        total = 0;
        for (Py_ssize_t i = 0; i + 1 < unique; i++) {
            f->offsets[i] = total;
            for (Py_ssize_t p = 0; p < f->prefix_count; p++)
                if (in_ranges(f->ranges + f->prefixes[p].start[0], f->prefixes[p].count[0], f->bounds[i])) {
                    if (pass)
                        f->members[total] = (int)p;
                    total++;
                }
        }
        f->offsets[unique > 0 ? unique - 1 : 0] = total;
        if (!pass && (f->members = PyMem_Calloc(total + 1, sizeof(int))) == NULL)
            return -1;
    }
    if (unique < NO_INTERVAL) {
        f->bmp = PyMem_Malloc(0x10000 * sizeof(uint16_t));
        if (f->bmp == NULL)
            return -1;
        for (Py_UCS4 key = 0; key < 0x10000; key++) {
            Py_ssize_t interval = interval_of(f, key);
            f->bmp[key] = (uint16_t)(interval < 0 || f->offsets[interval] == f->offsets[interval + 1] ? NO_INTERVAL
                                                                                                       : interval);
        }
    }
    return 0;
}

/* words.search(text, max(0, start - window), start) is not None; -1 on error */
static int context_before(Text *t, PyObject *search, PyObject *prefixes, Py_ssize_t start, Py_ssize_t window) {
    Py_ssize_t low = start - window < 0 ? 0 : start - window;
    PyObject *found;
    int result;
    if (prefixes != NULL && !prefixes_occur((PrefixTest *)prefixes, t, low, start))
        return 0;
    found = PyObject_CallFunction(search, "Onn", t->text, low, start);
    if (found == NULL)
        return -1;
    result = found != Py_None;
    Py_DECREF(found);
    return result;
}

static int asked_before(Scanner *s, Text *t, Py_ssize_t start, PyObject *words) {
    PyObject *answer;
    int result;
    if (!has_newline(t))
        return 0;
    answer = PyObject_CallFunction(s->asked_before, "OnO", t->text, start, words);
    if (answer == NULL)
        return -1;
    result = PyObject_IsTrue(answer);
    Py_DECREF(answer);
    return result;
}

static int id_number_valid(Scanner *s, const char *d) {
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[] = "10X98765432";
    static const int days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day, limit, total = 0, inside;
    PyObject *region;
    for (int i = 0; i < 17; i++)
        if (!ASCII_DIGIT(d[i]))
            return 0;
    region = PyUnicode_FromStringAndSize(d, 2);
    if (region == NULL)
        return -1;
    inside = PySet_Contains(s->provinces, region);
    Py_DECREF(region);
    if (inside <= 0)
        return inside;
    year = (d[6] - '0') * 1000 + (d[7] - '0') * 100 + (d[8] - '0') * 10 + (d[9] - '0');
    month = (d[10] - '0') * 10 + (d[11] - '0');
    day = (d[12] - '0') * 10 + (d[13] - '0');
    if (year < 1900 || month < 1 || month > 12 || day < 1)
        return 0;
    limit = days[month] + (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0));
    if (day > limit)
        return 0;
    {
        /* date.today(): local time, as datetime computes it */
        time_t now = time(NULL);
        struct tm local;
        long born, today;
        if (localtime_r(&now, &local) == NULL)
            return 0;
        born = year * 10000L + month * 100L + day;
        today = (local.tm_year + 1900) * 10000L + (local.tm_mon + 1) * 100L + local.tm_mday;
        if (born > today)
            return 0;
    }
    for (int i = 0; i < 17; i++)
        total += (d[i] - '0') * weights[i];
    return check[total % 11] == (d[17] == 'x' ? 'X' : d[17]);
}

static int luhn_valid(const char *d, Py_ssize_t size) {
    int total = 0;
    for (Py_ssize_t position = 0; position < size; position++) {
        int value = d[size - 1 - position] - '0';
        if (position & 1) {
            value *= 2;
            if (value > 9)
                value -= 9;
        }
        total += value;
    }
    return total % 10 == 0;
}

static int landline(const char *d, Py_ssize_t size) {
    int area;
    if (d[0] != '0' || (size > 1 && d[1] == '0'))
        return 0;
    area = (d[1] == '1' || d[1] == '2') ? 3 : 4;
    return 7 <= size - area && size - area <= 8 && d[area] != '0';
}

static int mobile(Scanner *s, const char *d) {
    PyObject *digits = PyUnicode_FromStringAndSize(d, 11), *found;
    int result;
    if (digits == NULL)
        return -1;
    found = PyObject_CallOneArg(s->mobile_fullmatch, digits);
    Py_DECREF(digits);
    if (found == NULL)
        return -1;
    result = found != Py_None;
    Py_DECREF(found);
    return result;
}

static int code(Scanner *s, Text *t, Py_ssize_t start, Py_ssize_t end) {
    int r = context_before(t, s->code_search, s->code_first, start, 16);
    if (r == 0)
        r = asked_before(s, t, start, s->code);
    if (r <= 0)
        return r;
    if (end < t->n) {
        Py_UCS4 after = CH(t, end);
        for (Py_ssize_t i = 0; i < s->negative_after_count; i++)
            if (s->negative_after[i] == after)
                return 0;
    }
    r = context_before(t, s->code_negative_search, s->code_negative_first, start, 12);
    if (r == 0)
        r = context_before(t, s->negative_search, s->negative_first, start, 12);
    return r < 0 ? -1 : !r;
}

enum { NONE = 0, ID = 1, CARD_CUED, CARD, PHONE_MOBILE, PHONE_400, PHONE_LANDLINE, CODE, FAILED = -1 };

/* classify(): d holds ASCII digits and at most a final 'X'. */
static int classify(Scanner *s, Text *t, const char *d, Py_ssize_t size, Py_ssize_t start, int separated,
                    int international, Py_ssize_t end) {
    int r;
    if (international) {
        if (size >= 4 && memcmp(d, "0086", 4) == 0) {
            d += 4;
            size -= 4;
        } else if (size >= 2 && memcmp(d, "86", 2) == 0) {
            d += 2;
            size -= 2;
        }
    }
    if (size == 18 && (r = id_number_valid(s, d)) != 0)
        return r < 0 ? FAILED : ID;
    if (16 <= size && size <= 19 && d[size - 1] != 'X' && luhn_valid(d, size)) {
        r = context_before(t, s->card_search, s->card_first, start, 16);
        if (r == 0)
            r = asked_before(s, t, start, s->card);
        if (r != 0)
            return r < 0 ? FAILED : CARD_CUED;
        r = context_before(t, s->negative_search, s->negative_first, start, 12);
        return r < 0 ? FAILED : r ? NONE : CARD;
    }
    if (size == 11 && (r = mobile(s, d)) != 0)
        return r < 0 ? FAILED : PHONE_MOBILE;
    if (size == 10 && (memcmp(d, "400", 3) == 0 || memcmp(d, "800", 3) == 0))
        return PHONE_400;
    if (10 <= size && size <= 12 && landline(d, size)) {
        r = separated ? 1 : context_before(t, s->phone_search, s->phone_first, start, 16);
        if (r != 0)
            return r < 0 ? FAILED : PHONE_LANDLINE;
    }
    if (4 <= size && size <= 8 && d[size - 1] != 'X' && (r = code(s, t, start, end)) != 0)
        return r < 0 ? FAILED : CODE;
    return NONE;
}

static int append(Scanner *s, PyObject *found, int verdict, Py_ssize_t start, Py_ssize_t end) {
    PyObject *kind, *score, *entity;
    int r;
    switch (verdict) {
    case ID: kind = s->t_id; score = s->s_100; break;
    case CARD_CUED: kind = s->t_card; score = s->s_100; break;
    case CARD: kind = s->t_card; score = s->s_090; break;
    case PHONE_MOBILE: kind = s->t_phone; score = s->s_100; break;
    case PHONE_400: kind = s->t_phone; score = s->s_095; break;
    case PHONE_LANDLINE: kind = s->t_phone; score = s->s_090; break;
    default: kind = s->t_code; score = s->s_095; break;
    }
    /* Entity is a named tuple: made as tuple.__new__ makes a subclass's instance (its
     * __new__ would build an argument tuple and run Python code for each entity) */
    entity = ((PyTypeObject *)s->entity)->tp_alloc((PyTypeObject *)s->entity, 5);
    if (entity == NULL)
        return -1;
    {
        PyObject *first = PyLong_FromSsize_t(start), *last = PyLong_FromSsize_t(end);
        if (first == NULL || last == NULL) {
            Py_XDECREF(first);
            Py_XDECREF(last);
            Py_DECREF(entity);
            return -1;
        }
        PyTuple_SET_ITEM(entity, 0, Py_NewRef(kind));
        PyTuple_SET_ITEM(entity, 1, first);
        PyTuple_SET_ITEM(entity, 2, last);
        PyTuple_SET_ITEM(entity, 3, Py_NewRef(score));
        PyTuple_SET_ITEM(entity, 4, Py_NewRef(s->name));
    }
    r = PyList_Append(found, entity);
    Py_DECREF(entity);
    return r;
}

static int fallback(Scanner *s, Text *t, Py_ssize_t start, Py_ssize_t end, PyObject *found) {
    PyObject *more = PyObject_CallFunction(s->fallback, "Onn", t->text, start, end);
    PyObject *iterator, *item;
    if (more == NULL)
        return -1;
    iterator = PyObject_GetIter(more);
    Py_DECREF(more);
    if (iterator == NULL)
        return -1;
    while ((item = PyIter_Next(iterator)) != NULL) {
        int r = PyList_Append(found, item);
        Py_DECREF(item);
        if (r < 0) {
            Py_DECREF(iterator);
            return -1;
        }
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : 0;
}

static int in_zh(Py_UCS4 c) {
    switch (c) {
    case 0x96F6: case 0x3007: case 0x4E00: case 0x5E7A: case 0x4E8C: case 0x4E24: case 0x4E09:
    case 0x56DB: case 0x4E94: case 0x516D: case 0x4E03: case 0x516B: case 0x4E5D:
        return 1; /* 零〇一幺二两三四五六七八九 */
    default:
        return 0;
    }
}

static int near(Py_UCS4 c) { return ASCII_DIGIT(c) || in_zh(c) || c == ' ' || c == '-'; }

/* _touches(text, start, end, _ZH_SET, 2): two Chinese digits next to the run */
static int touches_zh(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    if (start) {
        Py_UCS4 c = CH(t, start - 1);
        if (near(c)) {
            Py_ssize_t i = (c == ' ' || c == '-') ? start - 2 : start - 1;
            if (i >= 1 && in_zh(CH(t, i)) && in_zh(CH(t, i - 1)))
                return 1;
        }
    }
    if (end < t->n) {
        Py_UCS4 c = CH(t, end);
        if (near(c)) {
            Py_ssize_t i = (c == ' ' || c == '-') ? end + 1 : end;
            if (i + 2 <= t->n && in_zh(CH(t, i)) && in_zh(CH(t, i + 1)))
                return 1;
        }
    }
    return 0;
}

#define MAX_RUN 96

/* NumberRecognizer.analyze for one match of the digits pattern at [start, end). */
static int analyze_run(Scanner *s, Text *t, Py_ssize_t start, Py_ssize_t end, PyObject *found) {
    char d[MAX_RUN];
    Py_ssize_t positions[MAX_RUN], size = 0, length = end - start;
    int plain = 1, verdict, international, separated;
    Py_ssize_t lo, hi;
    if (length >= MAX_RUN || touches_zh(t, start, end))
        return fallback(s, t, start, end, found);
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = CH(t, i);
        if (c >= 128)
            return fallback(s, t, start, end, found);
        if (ASCII_DIGIT(c) || c == 'X' || c == 'x') {
            d[size] = (char)(c == 'x' ? 'X' : c);
            positions[size++] = i - start;
        }
        if (!ASCII_DIGIT(c))
            plain = 0;
    }
    if (plain) {
        if (7 <= length && length <= 8 && start) {
            Py_UCS4 c = CH(t, start - 1);
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
                return fallback(s, t, start, end, found); /* a passport's letters, perhaps */
        }
        verdict = classify(s, t, d, size, start, 0, length >= 2 && d[0] == '0' && d[1] == '0', end);
        if (verdict == FAILED)
            return -1;
        return verdict == NONE ? 0 : append(s, found, verdict, start, end);
    }
    if (d[size - 1] == 'X') {
        int r = size == 18 ? id_number_valid(s, d) : 0;
        if (r < 0)
            return -1;
        if (!r)
            size--; /* only an ID's check character is an X */
    }
    /* raw.lstrip("(").startswith(("+", "00")) */
    lo = start;
    while (lo < end && CH(t, lo) == '(')
        lo++;
    international = lo < end && (CH(t, lo) == '+' || (lo + 1 < end && CH(t, lo) == '0' && CH(t, lo + 1) == '0'));
    /* any(not c.isdigit() for c in raw.strip("+()")) */
    lo = start;
    hi = end;
    while (lo < hi && (CH(t, lo) == '+' || CH(t, lo) == '(' || CH(t, lo) == ')'))
        lo++;
    while (hi > lo && (CH(t, hi - 1) == '+' || CH(t, hi - 1) == '(' || CH(t, hi - 1) == ')'))
        hi--;
    separated = 0;
    for (Py_ssize_t i = lo; i < hi && !separated; i++)
        separated = !ASCII_DIGIT(CH(t, i));
    verdict = classify(s, t, d, size, start, separated, international, start + positions[size - 1] + 1);
    if (verdict == FAILED)
        return -1;
    if (verdict != NONE)
        return append(s, found, verdict, start, start + positions[size - 1] + 1);
    {
        /* nothing as a whole: runs of its space- or comma-separated groups, longest first */
        Py_ssize_t first[9], last[9];
        int groups = 0, begin = 0;
        for (Py_ssize_t index = 1; index <= size; index++) {
            int cut = index == size;
            if (!cut && positions[index] > positions[index - 1] + 1) {
                for (Py_ssize_t i = start + positions[index - 1] + 1; i < start + positions[index] && !cut; i++) {
                    Py_UCS4 c = CH(t, i);
                    cut = c == ' ' || c == ',' || c == 0xFF0C;
                }
            }
            if (cut) {
                if (groups == 8)
                    return 0; /* digit-by-digit dictation is classified whole, never split */
                first[groups] = begin;
                last[groups++] = index - 1;
                begin = (int)index;
            }
        }
        for (int i = 0; i < groups; i++) {
            int top = groups - 1 < i + 4 ? groups - 1 : i + 4;
            for (int j = top; j >= i; j--) {
                Py_ssize_t a, b, part_start, part_end;
                if (i == 0 && j == groups - 1)
                    continue;
                a = first[i];
                b = last[j];
                part_start = start + positions[a];
                part_end = start + positions[b] + 1;
                verdict = classify(s, t, d + a, b - a + 1, part_start, i != j, 0, part_end);
                if (verdict == FAILED)
                    return -1;
                if (verdict != NONE) {
                    if (append(s, found, verdict, part_start, part_end) < 0)
                        return -1;
                    i = j;
                    break;
                }
            }
        }
    }
    return 0;
}

static int ready(Scanner *s) {
    if (s->entity == NULL || s->card_search == NULL) {
        PyErr_SetString(PyExc_TypeError, "the Scanner is not initialized");
        return 0;
    }
    return 1;
}

static int text_init(Text *t, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be a str");
        return -1;
    }
    t->kind = PyUnicode_KIND(text);
    t->data = PyUnicode_DATA(text);
    t->n = PyUnicode_GET_LENGTH(text);
    t->has_newline = -1;
    t->text = text;
    return 0;
}

/* ---- the type ---------------------------------------------------------------------- */

static PyObject *Scanner_scan(Scanner *s, PyObject *args) {
    PyObject *text, *found;
    Py_ssize_t position = 0;
    Text t;
    if (!ready(s) || !PyArg_ParseTuple(args, "O|n", &text, &position) || text_init(&t, text) < 0)
        return NULL;
    found = PyList_New(0);
    if (found == NULL)
        return NULL;
    for (Py_ssize_t p = position < 0 ? 0 : position; p < t.n; p++) {
        Py_UCS4 c = CH(&t, p);
        Py_ssize_t e;
        if (!(ASCII_DIGIT(c) || c == '+' || c == '(') || at_digit(&t, p - 1))
            continue;
        e = match_at(&t, p);
        if (e < 0)
            continue;
        if (analyze_run(s, &t, p, e, found) < 0) {
            Py_DECREF(found);
            return NULL;
        }
        p = e - 1;
    }
    return found;
}

static PyObject *Scanner_runs(Scanner *s, PyObject *args) {
    PyObject *text, *found;
    Text t;
    if (!ready(s) || !PyArg_ParseTuple(args, "O", &text) || text_init(&t, text) < 0)
        return NULL;
    found = PyList_New(0);
    if (found == NULL)
        return NULL;
    for (Py_ssize_t p = 0; p < t.n; p++) {
        Py_UCS4 c = CH(&t, p);
        Py_ssize_t e;
        PyObject *span;
        if (!(ASCII_DIGIT(c) || c == '+' || c == '(') || at_digit(&t, p - 1))
            continue;
        e = match_at(&t, p);
        if (e < 0)
            continue;
        span = Py_BuildValue("(nn)", p, e);
        if (span == NULL || PyList_Append(found, span) < 0) {
            Py_XDECREF(span);
            Py_DECREF(found);
            return NULL;
        }
        Py_DECREF(span);
        p = e - 1;
    }
    return found;
}

static PyObject *Scanner_next_run(Scanner *s, PyObject *args) {
    PyObject *text;
    Py_ssize_t position;
    Text t;
    if (!ready(s) || !PyArg_ParseTuple(args, "On", &text, &position) || text_init(&t, text) < 0)
        return NULL;
    for (Py_ssize_t p = position < 0 ? 0 : position; p < t.n; p++) {
        Py_UCS4 c = CH(&t, p);
        Py_ssize_t e;
        if (!(ASCII_DIGIT(c) || c == '+' || c == '(') || at_digit(&t, p - 1))
            continue;
        e = match_at(&t, p);
        if (e >= 0)
            return Py_BuildValue("(nn)", p, e);
    }
    Py_RETURN_NONE;
}

static PyObject *Scanner_run(Scanner *s, PyObject *args) {
    PyObject *text, *found;
    Py_ssize_t start, end;
    Text t;
    if (!ready(s) || !PyArg_ParseTuple(args, "Onn", &text, &start, &end) || text_init(&t, text) < 0)
        return NULL;
    if (start < 0 || end > t.n || start >= end) {
        PyErr_SetString(PyExc_ValueError, "span outside the text");
        return NULL;
    }
    found = PyList_New(0);
    if (found != NULL && analyze_run(s, &t, start, end, found) < 0)
        Py_CLEAR(found);
    return found;
}

static int Scanner_traverse(Scanner *s, visitproc visit, void *arg) {
    Py_VISIT(s->entity);
    Py_VISIT(s->fallback);
    Py_VISIT(s->bare_passport);
    Py_VISIT(s->asked_before);
    Py_VISIT(s->card_search);
    Py_VISIT(s->negative_search);
    Py_VISIT(s->phone_search);
    Py_VISIT(s->code_search);
    Py_VISIT(s->code_negative_search);
    Py_VISIT(s->card);
    Py_VISIT(s->code);
    Py_VISIT(s->mobile_fullmatch);
    Py_VISIT(s->provinces);
    Py_VISIT(s->card_first);
    Py_VISIT(s->negative_first);
    Py_VISIT(s->phone_first);
    Py_VISIT(s->code_first);
    Py_VISIT(s->code_negative_first);
    return 0;
}

static int Scanner_clear(Scanner *s) {
    Py_CLEAR(s->entity);
    Py_CLEAR(s->fallback);
    Py_CLEAR(s->bare_passport);
    Py_CLEAR(s->asked_before);
    Py_CLEAR(s->card_search);
    Py_CLEAR(s->negative_search);
    Py_CLEAR(s->phone_search);
    Py_CLEAR(s->code_search);
    Py_CLEAR(s->code_negative_search);
    Py_CLEAR(s->card);
    Py_CLEAR(s->code);
    Py_CLEAR(s->mobile_fullmatch);
    Py_CLEAR(s->provinces);
    Py_CLEAR(s->name);
    Py_CLEAR(s->t_id);
    Py_CLEAR(s->t_card);
    Py_CLEAR(s->t_phone);
    Py_CLEAR(s->t_code);
    Py_CLEAR(s->s_100);
    Py_CLEAR(s->s_095);
    Py_CLEAR(s->s_090);
    Py_CLEAR(s->card_first);
    Py_CLEAR(s->negative_first);
    Py_CLEAR(s->phone_first);
    Py_CLEAR(s->code_first);
    Py_CLEAR(s->code_negative_first);
    return 0;
}

static void Scanner_dealloc(Scanner *s) {
    PyObject_GC_UnTrack(s);
    Scanner_clear(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *attribute(PyObject *object, const char *name) { return PyObject_GetAttrString(object, name); }

static int Scanner_init(Scanner *s, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"entity", "fallback", "bare_passport", "asked_before", "card", "negative",
                               "phone", "code", "code_negative_before", "code_negative_after", "mobile",
                               "provinces", "name", "card_prefixes", "negative_prefixes", "phone_prefixes",
                               "code_prefixes", "code_negative_prefixes", NULL};
    PyObject *entity, *fallback_, *bare, *asked, *card, *negative, *phone, *code_, *code_negative, *after;
    PyObject *mobile_, *provinces, *name;
    PyObject *card_first = Py_None, *negative_first = Py_None, *phone_first = Py_None, *code_first = Py_None;
    PyObject *code_negative_first = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOOOOUOOU|OOOOO", keywords, &entity, &fallback_, &bare,
                                     &asked, &card, &negative, &phone, &code_, &code_negative, &after, &mobile_,
                                     &provinces, &name, &card_first, &negative_first, &phone_first, &code_first,
                                     &code_negative_first))
        return -1;
    if (s->entity != NULL) { /* another thread may be scanning with what it holds */
        PyErr_SetString(PyExc_TypeError, "a Scanner is initialized once");
        return -1;
    }
    {
        PyObject *given[5] = {card_first, negative_first, phone_first, code_first, code_negative_first};
        for (int i = 0; i < 5; i++)
            if (given[i] != Py_None && !PyObject_TypeCheck(given[i], &PrefixTestType)) {
                PyErr_SetString(PyExc_TypeError, "prefixes: a PrefixTest or None");
                return -1;
            }
    }
    Scanner_clear(s);
    if (PyUnicode_GET_LENGTH(after) > 64) {
        PyErr_SetString(PyExc_ValueError, "code_negative_after: at most 64 characters");
        return -1;
    }
    s->card_first = card_first == Py_None ? NULL : Py_NewRef(card_first);
    s->negative_first = negative_first == Py_None ? NULL : Py_NewRef(negative_first);
    s->phone_first = phone_first == Py_None ? NULL : Py_NewRef(phone_first);
    s->code_first = code_first == Py_None ? NULL : Py_NewRef(code_first);
    s->code_negative_first = code_negative_first == Py_None ? NULL : Py_NewRef(code_negative_first);
    s->negative_after_count = PyUnicode_GET_LENGTH(after);
    for (Py_ssize_t i = 0; i < s->negative_after_count; i++)
        s->negative_after[i] = PyUnicode_READ_CHAR(after, i);
    s->entity = Py_NewRef(entity);
    s->fallback = Py_NewRef(fallback_);
    s->bare_passport = Py_NewRef(bare);
    s->asked_before = Py_NewRef(asked);
    s->card = Py_NewRef(card);
    s->code = Py_NewRef(code_);
    s->provinces = Py_NewRef(provinces);
    s->name = Py_NewRef(name);
    s->card_search = attribute(card, "search");
    s->negative_search = attribute(negative, "search");
    s->phone_search = attribute(phone, "search");
    s->code_search = attribute(code_, "search");
    s->code_negative_search = attribute(code_negative, "search");
    s->mobile_fullmatch = attribute(mobile_, "fullmatch");
    s->t_id = PyUnicode_InternFromString("CN_ID_CARD");
    s->t_card = PyUnicode_InternFromString("BANK_CARD");
    s->t_phone = PyUnicode_InternFromString("PHONE_NUMBER");
    s->t_code = PyUnicode_InternFromString("VERIFICATION_CODE");
    s->s_100 = PyFloat_FromDouble(1.0);
    s->s_095 = PyFloat_FromDouble(0.95);
    s->s_090 = PyFloat_FromDouble(0.9);
    if (!s->card_search || !s->negative_search || !s->phone_search || !s->code_search || !s->code_negative_search ||
        !s->mobile_fullmatch || !s->t_id || !s->t_card || !s->t_phone || !s->t_code || !s->s_100 || !s->s_095 ||
        !s->s_090)
        return -1;
    if (!PyType_Check(entity) || !PyType_IsSubtype((PyTypeObject *)entity, &PyTuple_Type) ||
        ((PyTypeObject *)entity)->tp_itemsize != PyTuple_Type.tp_itemsize ||
        ((PyTypeObject *)entity)->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "entity must be a named tuple class of five fields");
        return -1;
    }
    if (!PyAnySet_Check(provinces)) {
        PyErr_SetString(PyExc_TypeError, "provinces must be a set or frozenset");
        return -1;
    }
    return 0;
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS,
     "scan(text, position=0) -> list[Entity]: every digits-pattern run from position, classified."},
    {"runs", (PyCFunction)Scanner_runs, METH_VARARGS,
     "runs(text) -> list[tuple[int, int]]: the spans re.finditer gives for the digits pattern."},
    {"next_run", (PyCFunction)Scanner_next_run, METH_VARARGS,
     "next_run(text, position) -> tuple[int, int] | None: the leftmost digits-pattern match at or after position."},
    {"run", (PyCFunction)Scanner_run, METH_VARARGS,
     "run(text, start, end) -> list[Entity]: one match of the digits pattern, classified."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "callvault.pii._digits.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Digit runs of NumberRecognizer's digits pattern, found and classified in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_methods = Scanner_methods,
};

/* ---- PrefixTest -------------------------------------------------------------------- */

static int PrefixTest_init(PrefixTest *f, PyObject *args, PyObject *kwargs) {
    PyObject *given, *prefixes = NULL;
    Py_ssize_t total = 0, r = 0;
    static char *keywords[] = {"prefixes", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O", keywords, &given))
        return -1;
    if (f->prefixes != NULL) { /* another thread may be testing with what it holds */
        PyErr_SetString(PyExc_TypeError, "a PrefixTest is initialized once");
        return -1;
    }
    PyMem_Free(f->prefixes);
    PyMem_Free(f->ranges);
    PyMem_Free(f->bounds);
    PyMem_Free(f->offsets);
    PyMem_Free(f->members);
    PyMem_Free(f->bmp);
    f->bmp = NULL;
    f->prefixes = NULL;
    f->ranges = NULL;
    f->bounds = NULL;
    f->offsets = NULL;
    f->members = NULL;
    f->prefix_count = f->range_count = f->bound_count = 0;
    prefixes = PySequence_Tuple(given);
    if (prefixes == NULL)
        return -1;
    /* check the shape and count the ranges first */
    for (Py_ssize_t p = 0; p < PyTuple_GET_SIZE(prefixes); p++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, p);
        if (!PyTuple_Check(prefix) || PyTuple_GET_SIZE(prefix) < 1 || PyTuple_GET_SIZE(prefix) > MAX_PREFIX)
            goto bad;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(prefix); k++) {
            PyObject *set = PyTuple_GET_ITEM(prefix, k);
            if (!PyTuple_Check(set) || PyTuple_GET_SIZE(set) < 1)
                goto bad;
            total += PyTuple_GET_SIZE(set);
        }
    }
    f->prefixes = PyMem_Calloc(PyTuple_GET_SIZE(prefixes) + 1, sizeof(Prefix));
    f->ranges = PyMem_Calloc(total + 1, sizeof(Range));
    if (f->prefixes == NULL || f->ranges == NULL) {
        Py_DECREF(prefixes);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t p = 0; p < PyTuple_GET_SIZE(prefixes); p++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, p);
        Prefix *out = &f->prefixes[p];
        out->length = (int)PyTuple_GET_SIZE(prefix);
        for (Py_ssize_t k = 0; k < out->length; k++) {
            PyObject *set = PyTuple_GET_ITEM(prefix, k);
            out->start[k] = r;
            out->count[k] = PyTuple_GET_SIZE(set);
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(set); i++) {
                unsigned long low, high;
                PyObject *range = PyTuple_GET_ITEM(set, i);
                if (!PyArg_ParseTuple(range, "kk", &low, &high) || low > high || high > 0x10FFFF) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_ValueError, "a range is (low, high), low <= high <= 0x10FFFF");
                    Py_DECREF(prefixes);
                    return -1;
                }
                f->ranges[r].low = (Py_UCS4)low;
                f->ranges[r].high = (Py_UCS4)high;
                r++;
            }
        }
    }
    f->prefix_count = PyTuple_GET_SIZE(prefixes);
    f->range_count = r;
    Py_DECREF(prefixes);
    if (index_firsts(f) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
bad:
    Py_DECREF(prefixes);
    PyErr_SetString(PyExc_ValueError, "prefixes: tuples of 1 to 6 non-empty tuples of (low, high) ranges");
    return -1;
}

static void PrefixTest_dealloc(PrefixTest *f) {
    PyMem_Free(f->prefixes);
    PyMem_Free(f->ranges);
    PyMem_Free(f->bounds);
    PyMem_Free(f->offsets);
    PyMem_Free(f->members);
    PyMem_Free(f->bmp);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyObject *PrefixTest_occurs(PrefixTest *f, PyObject *args) {
    PyObject *text;
    Py_ssize_t low = 0, high = PY_SSIZE_T_MAX;
    Text t;
    if (!PyArg_ParseTuple(args, "O|nn", &text, &low, &high) || text_init(&t, text) < 0)
        return NULL;
    if (low < 0)
        low = 0;
    if (high > t.n)
        high = t.n;
    return PyBool_FromLong(prefixes_occur(f, &t, low, high));
}

static PyMethodDef PrefixTest_methods[] = {
    {"occurs", (PyCFunction)PrefixTest_occurs, METH_VARARGS,
     "occurs(text, low=0, high=len(text)) -> bool: a prefix begins in text[low:high] and fits before high."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PrefixTestType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "callvault.pii._digits.PrefixTest",
    .tp_basicsize = sizeof(PrefixTest),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PrefixTest(prefixes): does one of these prefixes begin in a text (see callvault/pii/prefixes.py)?",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)PrefixTest_init,
    .tp_dealloc = (destructor)PrefixTest_dealloc,
    .tp_methods = PrefixTest_methods,
};

/* ---- Hits: the prefilter's call per text ----------------------------------------------- */

/* Hits(scan, local, make_scratch, record): hits(text) -> frozenset of the trigger ids Hyperscan
 * reports, as Prefilter's Python closure gives them; the frozensets are shared per set. */
typedef struct {
    PyObject_HEAD
    PyObject *scan;         /* the database's bound scan method */
    PyObject *local;        /* threading.local: .scratch, one per thread */
    PyObject *make_scratch; /* make_scratch() -> a new Scratch for this database */
    PyObject *record;       /* record_hit */
    PyObject *sets;         /* dict: bit mask -> frozenset */
    PyObject *empty;
    PyObject *scratch_name, *zero;
} Hits;

static int Hits_init(Hits *h, PyObject *args, PyObject *kwargs) {
    PyObject *scan, *local, *make_scratch, *record;
    static char *keywords[] = {"scan", "local", "make_scratch", "record", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO", keywords, &scan, &local, &make_scratch, &record))
        return -1;
    if (h->scan != NULL) {
        PyErr_SetString(PyExc_TypeError, "Hits is initialized once");
        return -1;
    }
    h->scan = Py_NewRef(scan);
    h->local = Py_NewRef(local);
    h->make_scratch = Py_NewRef(make_scratch);
    h->record = Py_NewRef(record);
    h->sets = PyDict_New();
    h->empty = PyFrozenSet_New(NULL);
    h->scratch_name = PyUnicode_InternFromString("scratch");
    h->zero = PyLong_FromLong(0);
    if (!h->record || !h->sets || !h->empty || !h->scratch_name || !h->zero)
        return -1;
    return 0;
}

static PyObject *Hits_call(Hits *h, PyObject *args, PyObject *kwargs) {
    PyObject *text, *scratch, *encoded, *found, *result, *key, *set;
    unsigned long long mask = 0;
    if (h->scan == NULL) {
        PyErr_SetString(PyExc_TypeError, "Hits is not initialized");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "U", &text))
        return NULL;
    scratch = PyObject_GetAttr(h->local, h->scratch_name);
    if (scratch == NULL) { /* the first scan of this thread */
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
        scratch = PyObject_CallNoArgs(h->make_scratch);
        if (scratch == NULL || PyObject_SetAttr(h->local, h->scratch_name, scratch) < 0) {
            Py_XDECREF(scratch);
            return NULL;
        }
    }
    /* lone surrogates cannot be encoded; "?" is no trigger and removes none */
    encoded = PyUnicode_AsEncodedString(text, "utf-8", "replace");
    found = PyList_New(0);
    if (encoded == NULL || found == NULL) {
        Py_XDECREF(encoded);
        Py_XDECREF(found);
        Py_DECREF(scratch);
        return NULL;
    }
    {
        PyObject *call[5] = {encoded, h->record, h->zero, found, scratch};
        result = PyObject_Vectorcall(h->scan, call, 5, NULL);
    }
    Py_DECREF(encoded);
    Py_DECREF(scratch);
    if (result == NULL) {
        Py_DECREF(found);
        return NULL;
    }
    Py_DECREF(result);
    if (PyList_GET_SIZE(found) == 0) {
        Py_DECREF(found);
        return Py_NewRef(h->empty);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(found); i++) {
        long id = PyLong_AsLong(PyList_GET_ITEM(found, i));
        if (id < 0 || id > 63) { /* not expected: no shared set, a new one */
            PyErr_Clear();
            result = PyFrozenSet_New(found);
            Py_DECREF(found);
            return result;
        }
        mask |= 1ULL << id;
    }
    key = PyLong_FromUnsignedLongLong(mask);
    if (key == NULL) {
        Py_DECREF(found);
        return NULL;
    }
    set = PyDict_GetItemWithError(h->sets, key);
    if (set != NULL) {
        Py_DECREF(key);
        Py_DECREF(found);
        return Py_NewRef(set);
    }
    if (PyErr_Occurred() || (set = PyFrozenSet_New(found)) == NULL || PyDict_SetItem(h->sets, key, set) < 0) {
        Py_XDECREF(set);
        Py_DECREF(key);
        Py_DECREF(found);
        return NULL;
    }
    Py_DECREF(key);
    Py_DECREF(found);
    return set;
}

static int Hits_traverse(Hits *h, visitproc visit, void *arg) {
    Py_VISIT(h->scan);
    Py_VISIT(h->local);
    Py_VISIT(h->make_scratch);
    Py_VISIT(h->record);
    Py_VISIT(h->sets);
    return 0;
}

static int Hits_clear(Hits *h) {
    Py_CLEAR(h->scan);
    Py_CLEAR(h->local);
    Py_CLEAR(h->make_scratch);
    Py_CLEAR(h->record);
    Py_CLEAR(h->sets);
    Py_CLEAR(h->empty);
    Py_CLEAR(h->scratch_name);
    Py_CLEAR(h->zero);
    return 0;
}

static void Hits_dealloc(Hits *h) {
    PyObject_GC_UnTrack(h);
    Hits_clear(h);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static PyTypeObject HitsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "callvault.pii._digits.Hits",
    .tp_basicsize = sizeof(Hits),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Hits(scan, local, make_scratch, record)(text) -> frozenset: the prefilter's Hyperscan call.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Hits_init,
    .tp_call = (ternaryfunc)Hits_call,
    .tp_dealloc = (destructor)Hits_dealloc,
    .tp_traverse = (traverseproc)Hits_traverse,
    .tp_clear = (inquiry)Hits_clear,
};

/* record_hit(expression, start, end, flags, hits): Hyperscan's match callback for the
 * prefilter, hits.append(expression); returns None (scan on). */
static PyObject *record_hit(PyObject *module, PyObject *const *args, Py_ssize_t count) {
    if (count != 5 || !PyList_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "record_hit(expression, start, end, flags, hits: list)");
        return NULL;
    }
    if (PyList_Append(args[4], args[0]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"record_hit", (PyCFunction)(void (*)(void))record_hit, METH_FASTCALL,
     "record_hit(expression, start, end, flags, hits): hits.append(expression) (Hyperscan's callback)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "callvault.pii._digits",
    "The PII engine's compiled helpers: digit runs found and classified, prefix tests, the prefilter's callback.",
    -1, module_methods,
};

PyMODINIT_FUNC PyInit__digits(void) {
    PyObject *m;
    if (PyType_Ready(&ScannerType) < 0 || PyType_Ready(&PrefixTestType) < 0 || PyType_Ready(&HitsType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0 ||
        PyModule_AddObjectRef(m, "PrefixTest", (PyObject *)&PrefixTestType) < 0 ||
        PyModule_AddObjectRef(m, "Hits", (PyObject *)&HitsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
