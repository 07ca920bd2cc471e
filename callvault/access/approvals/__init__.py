"""N-of-M approvals (``service``), their tables (``models``), schemas, and the tenant
webhooks that notify approvers (``webhooks``). Import the submodules; this package file
stays empty so ``callvault.models`` can load the tables without the services."""

__all__: list[str] = []
