"""Build hook for the optional C extensions; everything else is in pyproject.toml.

- ``callvault.pii._digits`` finds and classifies digit runs for the PII engine.
- ``callvault.crypto._openssl`` is AES-256-GCM and HMAC-SHA256 through OpenSSL 3's
  libcrypto with the key set up once per key (it needs the OpenSSL headers, e.g.
  Debian's libssl-dev).

Both are optional: when one cannot be built (no compiler, no headers) the install still
succeeds and its users take their pure-Python path, which gives the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "callvault.pii._digits",
            sources=["callvault/pii/_digits.c"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
        Extension(
            "callvault.crypto._openssl",
            sources=["callvault/crypto/_openssl.c"],
            libraries=["crypto"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
    ]
)
