"""Build hook for the one optional C extension; everything else is in pyproject.toml.

``callvault.pii._digits`` finds and classifies digit runs for the PII engine. It is
optional: when it cannot be built (no compiler, no Python headers) the install still
succeeds and the engine uses its pure-Python path, which gives the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "callvault.pii._digits",
            sources=["callvault/pii/_digits.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
