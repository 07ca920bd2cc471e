"""Demo data: realistic, generated on the spot (Faker ``zh_CN`` / ``en_US``), never downloaded."""

__all__: list[str] = []
