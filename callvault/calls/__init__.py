"""Live calls: the CTI's binding of an agent to a customer, which drives the agent's rights."""

__all__: list[str] = []
