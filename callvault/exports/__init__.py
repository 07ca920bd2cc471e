"""Exports: requests through an approval chain, masked and fingerprinted files, delivery,
leak tracing. Import the submodules (``service``, ``watermark``, ``files``); this package
file stays empty so ``callvault.models`` can load the tables without the services."""

__all__: list[str] = []
