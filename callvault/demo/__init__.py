"""Demo data: realistic, generated on the spot (Faker ``zh_CN`` / ``en_US``), never downloaded."""
