"""Configuration, database, errors, clock, logging and the runtime wiring everything shares."""

__all__: list[str] = []
