"""Data lifecycle: consent ledger, minimization, retention and legal hold, DSAR, erasure.

Modules: ``consent`` (ledger, receipts, the PDP's consent fact), ``minimization`` (data
schema), ``retention`` (policies, holds, the sweeper), ``dsar`` (deadlines, access report),
``flows`` (erasure, the erasure ledger, key epochs, key store). Kept empty so that
``callvault.models`` can load the tables without the services.
"""

__all__: list[str] = []
