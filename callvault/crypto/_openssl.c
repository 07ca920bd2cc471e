/* OpenSSL with the key set up once: the optional fast path of callvault.crypto.
 *
 * Two primitives, each bound to one key for its whole life:
 * - Gcm: AES-256-GCM (callvault.crypto.gcm);
 * - HmacSha256: HMAC-SHA256 (callvault.crypto.blind_index: blind indexes and the export
 *   watermark's bits), its context re-initialised with the key it holds for each message.
 *
 * Gcm:
 * ``cryptography``'s AESGCM sets up a cipher context (and its key schedule) on every call
 * and costs about as much again to construct; a record of seven fields opened with a key
 * of its own (every customer has one) paid that eight times. A Gcm here keeps one OpenSSL
 * context per direction with the key set, and opens or seals all the fields of a record in
 * one call: per field only the nonce is set, the associated data fed in two parts
 * (the column's prefix, then the record's part), the body processed and the tag checked.
 *
 * Same algorithm, same bytes: the field format is built and checked exactly as
 * callvault/crypto/aead.py describes it, and tests/crypto/test_gcm.py checks this module
 * against the pure-Python path (``cryptography``) both ways, on random inputs and on every
 * kind of tampering, whenever it is built. Nothing here chooses nonces or keys: callers
 * pass them in.
 *
 * HmacSha256: the same digests as ``hmac.digest(key, message, "sha256")`` (tests compare
 * them); about a fifth of the pure path's time (copying hashlib's keyed states).
 *
 * The GIL is held throughout (the inputs are a few dozen bytes; releasing it would cost
 * more than the work), and no Python code runs between a context's initialisation and its
 * result, which is what makes one context safe to share between threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <string.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "needs OpenSSL 3 (EVP_MAC, EVP_CIPHER_fetch); without it the pure-Python path is used"
#endif

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define STACK_BUFFER 512

static PyObject *OpenFailed; /* callvault.core.errors.DecryptionFailed: any failure to open, whatever the check */

typedef struct {
    PyObject_HEAD
    unsigned char key[KEY_LEN];
    int keyed; /* __init__ ran: a Gcm made with __new__ alone has no key and refuses to work */
    EVP_CIPHER_CTX *enc; /* made on first use: most keys only ever open, or only seal */
    EVP_CIPHER_CTX *dec;
} Gcm;

static PyTypeObject GcmType;
static EVP_CIPHER *aes_256_gcm; /* fetched once: an implicit fetch per context costs a lookup */

static void set_openssl_error(void) {
    PyErr_SetString(PyExc_RuntimeError, "OpenSSL AES-256-GCM failure");
}

static EVP_CIPHER_CTX *context(Gcm *self, int encrypting) {
    EVP_CIPHER_CTX **slot = encrypting ? &self->enc : &self->dec;
    if (*slot != NULL)
        return *slot;
    if (!self->keyed) {
        PyErr_SetString(PyExc_ValueError, "Gcm has no key");
        return NULL;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (EVP_CipherInit_ex(ctx, aes_256_gcm, NULL, self->key, NULL, encrypting) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        set_openssl_error();
        return NULL;
    }
    *slot = ctx;
    return ctx;
}

static int Gcm_init(Gcm *self, PyObject *args, PyObject *kwds) {
    Py_buffer key;
    static char *kwlist[] = {"key", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*:Gcm", kwlist, &key))
        return -1;
    if (key.len != KEY_LEN) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "AES-256-GCM needs a 32-byte key");
        return -1;
    }
    memcpy(self->key, key.buf, KEY_LEN);
    PyBuffer_Release(&key);
    self->keyed = 1;
    EVP_CIPHER_CTX_free(self->enc); /* __init__ called twice: start over */
    EVP_CIPHER_CTX_free(self->dec);
    self->enc = self->dec = NULL;
    return 0;
}

static void Gcm_dealloc(Gcm *self) {
    EVP_CIPHER_CTX_free(self->enc);
    EVP_CIPHER_CTX_free(self->dec);
    OPENSSL_cleanse(self->key, KEY_LEN);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* One encryption: out receives len(plain) bytes of ciphertext, then the tag. */
static int seal_into(EVP_CIPHER_CTX *ctx, const unsigned char *nonce, const unsigned char *aad1, Py_ssize_t aad1_len,
                     const unsigned char *aad2, Py_ssize_t aad2_len, const unsigned char *plain, Py_ssize_t plain_len,
                     unsigned char *out) {
    int written = 0, final_len = 0;
    if (plain_len > INT_MAX || aad1_len > INT_MAX || aad2_len > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "input too large");
        return -1;
    }
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
        (aad1_len && EVP_EncryptUpdate(ctx, NULL, &written, aad1, (int)aad1_len) != 1) ||
        (aad2_len && EVP_EncryptUpdate(ctx, NULL, &written, aad2, (int)aad2_len) != 1) ||
        EVP_EncryptUpdate(ctx, out, &written, plain, (int)plain_len) != 1 ||
        EVP_EncryptFinal_ex(ctx, out + written, &final_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + plain_len) != 1) {
        set_openssl_error();
        return -1;
    }
    return 0;
}

/* One decryption of body (ciphertext then tag): 0 and plain_out filled, or -1 with
 * DecryptionFailed (or another error) set. plain_out has room for body_len - TAG_LEN bytes. */
static int open_into(EVP_CIPHER_CTX *ctx, const unsigned char *nonce, const unsigned char *aad1, Py_ssize_t aad1_len,
                     const unsigned char *aad2, Py_ssize_t aad2_len, const unsigned char *body, Py_ssize_t body_len,
                     unsigned char *plain_out) {
    int written = 0, final_len = 0;
    if (body_len < TAG_LEN) {
        PyErr_SetNone(OpenFailed);
        return -1;
    }
    Py_ssize_t cipher_len = body_len - TAG_LEN;
    if (cipher_len > INT_MAX || aad1_len > INT_MAX || aad2_len > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "input too large");
        return -1;
    }
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
        (aad1_len && EVP_DecryptUpdate(ctx, NULL, &written, aad1, (int)aad1_len) != 1) ||
        (aad2_len && EVP_DecryptUpdate(ctx, NULL, &written, aad2, (int)aad2_len) != 1) ||
        EVP_DecryptUpdate(ctx, plain_out, &written, body, (int)cipher_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(body + cipher_len)) != 1) {
        set_openssl_error();
        return -1;
    }
    if (EVP_DecryptFinal_ex(ctx, plain_out + written, &final_len) != 1) {
        OPENSSL_cleanse(plain_out, (size_t)cipher_len); /* never hand out unauthenticated plaintext */
        PyErr_SetNone(OpenFailed);
        return -1;
    }
    return 0;
}

/* One call of encrypt or decrypt (nonce, data, aad): ciphertext || tag from plaintext, or
 * plaintext from ciphertext || tag (DecryptionFailed on any failure), as AESGCM's. */
static PyObject *one_call(Gcm *self, PyObject *const *args, Py_ssize_t nargs, int encrypting) {
    Py_buffer nonce = {0}, data = {0}, aad = {0};
    PyObject *out = NULL;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, encrypting ? "encrypt(nonce, data, aad)" : "decrypt(nonce, data, aad)");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &nonce, PyBUF_SIMPLE) < 0 || PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(args[2], &aad, PyBUF_SIMPLE) < 0)
        goto done;
    if (nonce.len != NONCE_LEN) {
        PyErr_SetString(PyExc_ValueError, "the nonce must be 12 bytes");
        goto done;
    }
    if (!encrypting && data.len < TAG_LEN) {
        PyErr_SetNone(OpenFailed);
        goto done;
    }
    EVP_CIPHER_CTX *ctx = context(self, encrypting);
    if (ctx == NULL)
        goto done;
    out = PyBytes_FromStringAndSize(NULL, encrypting ? data.len + TAG_LEN : data.len - TAG_LEN);
    if (out == NULL)
        goto done;
    unsigned char *into = (unsigned char *)PyBytes_AS_STRING(out);
    int failed = encrypting ? seal_into(ctx, nonce.buf, aad.buf, aad.len, NULL, 0, data.buf, data.len, into)
                            : open_into(ctx, nonce.buf, aad.buf, aad.len, NULL, 0, data.buf, data.len, into);
    if (failed < 0)
        Py_CLEAR(out);
done:
    if (nonce.obj)
        PyBuffer_Release(&nonce);
    if (data.obj)
        PyBuffer_Release(&data);
    if (aad.obj)
        PyBuffer_Release(&aad);
    return out;
}

static PyObject *Gcm_encrypt(Gcm *self, PyObject *const *args, Py_ssize_t nargs) {
    return one_call(self, args, nargs, 1);
}

static PyObject *Gcm_decrypt(Gcm *self, PyObject *const *args, Py_ssize_t nargs) {
    return one_call(self, args, nargs, 0);
}

/* The arguments the field calls share: header (bytes), record (bytes), prefixes (list or
 * tuple of bytes) and the values (list or tuple, as long as prefixes). */
typedef struct {
    const char *header, *record;
    Py_ssize_t header_len, record_len;
    PyObject *prefixes, *values; /* new references from PySequence_Fast */
} FieldArgs;

static int field_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, const char *usage, FieldArgs *out) {
    out->prefixes = out->values = NULL;
    if (nargs != expected) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    if (!PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "header and record must be bytes");
        return -1;
    }
    out->header = PyBytes_AS_STRING(args[0]);
    out->header_len = PyBytes_GET_SIZE(args[0]);
    out->record = PyBytes_AS_STRING(args[1]);
    out->record_len = PyBytes_GET_SIZE(args[1]);
    out->prefixes = PySequence_Fast(args[2], "prefixes must be a sequence");
    if (out->prefixes == NULL)
        return -1;
    out->values = PySequence_Fast(args[3], "values must be a sequence");
    if (out->values == NULL) {
        Py_CLEAR(out->prefixes);
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(out->prefixes) != PySequence_Fast_GET_SIZE(out->values)) {
        PyErr_SetString(PyExc_ValueError, "one prefix per value");
        Py_CLEAR(out->prefixes);
        Py_CLEAR(out->values);
        return -1;
    }
    return 0;
}

/* seal_fields(header, record, prefixes, values, nonces) -> list of header || nonce ||
 * ciphertext || tag, value i (str, sealed as UTF-8) bound to prefixes[i] + record and
 * sealed with nonces[12 i : 12 i + 12]. */
static PyObject *Gcm_seal_fields(Gcm *self, PyObject *const *args, Py_ssize_t nargs) {
    FieldArgs in;
    PyObject *result = NULL;
    if (field_args(args, nargs, 5, "seal_fields(header, record, prefixes, values, nonces)", &in) < 0)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(in.values);
    if (!PyBytes_Check(args[4]) || PyBytes_GET_SIZE(args[4]) != count * NONCE_LEN) {
        PyErr_SetString(PyExc_ValueError, "nonces must be bytes, 12 per value");
        goto done;
    }
    const unsigned char *nonces = (const unsigned char *)PyBytes_AS_STRING(args[4]);
    EVP_CIPHER_CTX *ctx = context(self, 1);
    if (ctx == NULL)
        goto done;
    result = PyList_New(count);
    if (result == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *prefix = PySequence_Fast_GET_ITEM(in.prefixes, i);
        PyObject *value = PySequence_Fast_GET_ITEM(in.values, i);
        if (!PyBytes_Check(prefix) || !PyUnicode_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "prefixes are bytes and values str");
            Py_CLEAR(result);
            goto done;
        }
        Py_ssize_t plain_len;
        const char *plain = PyUnicode_AsUTF8AndSize(value, &plain_len);
        if (plain == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyObject *sealed = PyBytes_FromStringAndSize(NULL, in.header_len + NONCE_LEN + plain_len + TAG_LEN);
        if (sealed == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        unsigned char *at = (unsigned char *)PyBytes_AS_STRING(sealed);
        const unsigned char *nonce = nonces + i * NONCE_LEN;
        memcpy(at, in.header, (size_t)in.header_len);
        memcpy(at + in.header_len, nonce, NONCE_LEN);
        PyList_SET_ITEM(result, i, sealed);
        if (seal_into(ctx, nonce, (const unsigned char *)PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix),
                      (const unsigned char *)in.record, in.record_len, (const unsigned char *)plain, plain_len,
                      at + in.header_len + NONCE_LEN) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
done:
    Py_XDECREF(in.prefixes);
    Py_XDECREF(in.values);
    return result;
}

/* open_fields(header, record, prefixes, sealed) -> list of str: each sealed value must
 * start with header, and opens with prefixes[i] + record as its associated data into
 * valid UTF-8; DecryptionFailed if any one does not. A None value (an empty column)
 * gives None. */
static PyObject *Gcm_open_fields(Gcm *self, PyObject *const *args, Py_ssize_t nargs) {
    FieldArgs in;
    PyObject *result = NULL;
    unsigned char stack[STACK_BUFFER];
    if (field_args(args, nargs, 4, "open_fields(header, record, prefixes, sealed)", &in) < 0)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(in.values);
    Py_ssize_t body_start = in.header_len + NONCE_LEN;
    EVP_CIPHER_CTX *ctx = context(self, 0);
    if (ctx == NULL)
        goto done;
    result = PyList_New(count);
    if (result == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *prefix = PySequence_Fast_GET_ITEM(in.prefixes, i);
        PyObject *sealed = PySequence_Fast_GET_ITEM(in.values, i);
        if (sealed == Py_None) { /* an empty column: nothing to open */
            PyList_SET_ITEM(result, i, Py_NewRef(Py_None));
            continue;
        }
        if (!PyBytes_Check(prefix) || !PyBytes_Check(sealed)) {
            PyErr_SetString(PyExc_TypeError, "prefixes and sealed values are bytes");
            Py_CLEAR(result);
            goto done;
        }
        const unsigned char *raw = (const unsigned char *)PyBytes_AS_STRING(sealed);
        Py_ssize_t raw_len = PyBytes_GET_SIZE(sealed);
        if (raw_len < body_start + TAG_LEN || memcmp(raw, in.header, (size_t)in.header_len) != 0) {
            PyErr_SetNone(OpenFailed);
            Py_CLEAR(result);
            goto done;
        }
        Py_ssize_t plain_len = raw_len - body_start - TAG_LEN;
        unsigned char *plain = plain_len <= STACK_BUFFER ? stack : PyMem_Malloc((size_t)plain_len);
        if (plain == NULL) {
            PyErr_NoMemory();
            Py_CLEAR(result);
            goto done;
        }
        int failed = open_into(ctx, raw + in.header_len, (const unsigned char *)PyBytes_AS_STRING(prefix),
                               PyBytes_GET_SIZE(prefix), (const unsigned char *)in.record, in.record_len, raw + body_start,
                               raw_len - body_start, plain);
        PyObject *text = NULL;
        if (!failed) {
            text = PyUnicode_DecodeUTF8((const char *)plain, plain_len, "strict");
            if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                PyErr_SetNone(OpenFailed);
            }
        }
        OPENSSL_cleanse(plain, (size_t)plain_len);
        if (plain != stack)
            PyMem_Free(plain);
        if (text == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, text);
    }
done:
    Py_XDECREF(in.prefixes);
    Py_XDECREF(in.values);
    return result;
}

static PyObject *Gcm_reduce(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(ignored)) {
    PyErr_SetString(PyExc_TypeError, "a Gcm key handle cannot be pickled");
    return NULL;
}

static PyMethodDef Gcm_methods[] = {
    {"encrypt", (PyCFunction)(void (*)(void))Gcm_encrypt, METH_FASTCALL, "encrypt(nonce, data, aad) -> bytes"},
    {"decrypt", (PyCFunction)(void (*)(void))Gcm_decrypt, METH_FASTCALL, "decrypt(nonce, data, aad) -> bytes"},
    {"seal_fields", (PyCFunction)(void (*)(void))Gcm_seal_fields, METH_FASTCALL,
     "seal_fields(header, record, prefixes, values, nonces) -> list[bytes]"},
    {"open_fields", (PyCFunction)(void (*)(void))Gcm_open_fields, METH_FASTCALL,
     "open_fields(header, record, prefixes, sealed) -> list[str]"},
    {"__reduce__", (PyCFunction)Gcm_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject GcmType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "callvault.crypto._openssl.Gcm",
    .tp_basicsize = sizeof(Gcm),
    .tp_dealloc = (destructor)Gcm_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "AES-256-GCM with one key, its context kept between calls.",
    .tp_methods = Gcm_methods,
    .tp_init = (initproc)Gcm_init,
    .tp_new = PyType_GenericNew,
};

/* -- HmacSha256 ------------------------------------------------------------------------ */
typedef struct {
    PyObject_HEAD
    EVP_MAC_CTX *ctx; /* keyed; NULL until __init__ ran */
} HmacSha256;

static EVP_MAC *hmac_algorithm; /* fetched once */

static int HmacSha256_init(HmacSha256 *self, PyObject *args, PyObject *kwds) {
    Py_buffer key;
    static char *kwlist[] = {"key", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*:HmacSha256", kwlist, &key))
        return -1;
    if (key.len == 0) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "HMAC needs a key");
        return -1;
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_algorithm);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx != NULL && EVP_MAC_init(ctx, key.buf, (size_t)key.len, params) == 1;
    PyBuffer_Release(&key);
    if (!ok) {
        EVP_MAC_CTX_free(ctx);
        set_openssl_error();
        return -1;
    }
    EVP_MAC_CTX_free(self->ctx); /* __init__ called twice: the new key replaces the old */
    self->ctx = ctx;
    return 0;
}

static void HmacSha256_dealloc(HmacSha256 *self) {
    EVP_MAC_CTX_free(self->ctx);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* digest(message) -> the 32-byte HMAC-SHA256 of message under the key */
static PyObject *HmacSha256_digest(HmacSha256 *self, PyObject *message) {
    Py_buffer data;
    unsigned char out[32];
    size_t out_len = 0;
    if (self->ctx == NULL) {
        PyErr_SetString(PyExc_ValueError, "HmacSha256 has no key");
        return NULL;
    }
    if (PyObject_GetBuffer(message, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    /* a NULL key re-initialises with the key already set */
    int ok = EVP_MAC_init(self->ctx, NULL, 0, NULL) == 1 &&
             EVP_MAC_update(self->ctx, data.buf, (size_t)data.len) == 1 &&
             EVP_MAC_final(self->ctx, out, &out_len, sizeof out) == 1 && out_len == sizeof out;
    PyBuffer_Release(&data);
    if (!ok) {
        set_openssl_error();
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)out_len);
}

static int ascii_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

#define MAX_CONTEXT 64

/* mark_star_run(masked, context) -> str | None: the export watermark's shortcut for a
 * value that is one run of stars between ASCII letters and digits (mobiles, landlines,
 * ID numbers masked), giving what callvault.exports.watermark.apply_fingerprint gives
 * (tests compare the two, see callvault.exports.cells.fingerprinter): the run's unit is the up to `context` characters on each side
 * joined by 0x1f, and the run's length is made even or odd after the first bit of the
 * unit's HMAC under this key by adding one star at its end. None for any other value:
 * the caller takes the general path. */
static PyObject *HmacSha256_mark_star_run(HmacSha256 *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "mark_star_run(masked: str, context: int)");
        return NULL;
    }
    if (self->ctx == NULL) {
        PyErr_SetString(PyExc_ValueError, "HmacSha256 has no key");
        return NULL;
    }
    Py_ssize_t context = PyLong_AsSsize_t(args[1]);
    if (context == -1 && PyErr_Occurred())
        return NULL;
    if (context < 1 || context > MAX_CONTEXT) {
        PyErr_SetString(PyExc_ValueError, "context must be 1 to 64 characters");
        return NULL;
    }
    PyObject *masked = args[0];
    if (!PyUnicode_IS_ASCII(masked))
        Py_RETURN_NONE;
    const char *text = (const char *)PyUnicode_1BYTE_DATA(masked);
    Py_ssize_t length = PyUnicode_GET_LENGTH(masked), start = 0;
    while (start < length && ascii_alnum(text[start]))
        start++;
    if (start == 0 || start == length || text[start] != '*')
        Py_RETURN_NONE;
    Py_ssize_t end = start;
    while (end < length && text[end] == '*')
        end++;
    if (end == length)
        Py_RETURN_NONE;
    for (Py_ssize_t i = end; i < length; i++)
        if (!ascii_alnum(text[i]))
            Py_RETURN_NONE;
    unsigned char unit[2 * MAX_CONTEXT + 1], out[32];
    size_t out_len = 0;
    Py_ssize_t left = start < context ? start : context, right = length - end < context ? length - end : context;
    memcpy(unit, text + start - left, (size_t)left);
    unit[left] = 0x1f;
    memcpy(unit + left + 1, text + end, (size_t)right);
    if (EVP_MAC_init(self->ctx, NULL, 0, NULL) != 1 || EVP_MAC_update(self->ctx, unit, (size_t)(left + 1 + right)) != 1 ||
        EVP_MAC_final(self->ctx, out, &out_len, sizeof out) != 1 || out_len != sizeof out) {
        set_openssl_error();
        return NULL;
    }
    if ((end - start) % 2 == (out[0] & 1))
        return Py_NewRef(masked);
    PyObject *marked = PyUnicode_New(length + 1, 127);
    if (marked == NULL)
        return NULL;
    char *to = (char *)PyUnicode_1BYTE_DATA(marked);
    memcpy(to, text, (size_t)end);
    to[end] = '*';
    memcpy(to + end + 1, text + end, (size_t)(length - end));
    return marked;
}

static PyMethodDef HmacSha256_methods[] = {
    {"digest", (PyCFunction)HmacSha256_digest, METH_O, "digest(message) -> bytes (32)"},
    {"mark_star_run", (PyCFunction)(void (*)(void))HmacSha256_mark_star_run, METH_FASTCALL,
     "mark_star_run(masked, context) -> str | None (the export watermark's shortcut)"},
    {"__reduce__", (PyCFunction)Gcm_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HmacSha256Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "callvault.crypto._openssl.HmacSha256",
    .tp_basicsize = sizeof(HmacSha256),
    .tp_dealloc = (destructor)HmacSha256_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "HMAC-SHA256 with one key, set up once.",
    .tp_methods = HmacSha256_methods,
    .tp_init = (initproc)HmacSha256_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "callvault.crypto._openssl", "OpenSSL primitives with the key set up once.", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__openssl(void) {
    if (PyType_Ready(&GcmType) < 0 || PyType_Ready(&HmacSha256Type) < 0)
        return NULL;
    aes_256_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (aes_256_gcm == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no AES-256-GCM");
        return NULL;
    }
    hmac_algorithm = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac_algorithm == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no HMAC");
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    PyObject *errors = PyImport_ImportModule("callvault.core.errors");
    if (errors == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    OpenFailed = PyObject_GetAttrString(errors, "DecryptionFailed");
    Py_DECREF(errors);
    if (OpenFailed == NULL || PyModule_AddObjectRef(m, "Gcm", (PyObject *)&GcmType) < 0 ||
        PyModule_AddObjectRef(m, "HmacSha256", (PyObject *)&HmacSha256Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
