"""PII detection and redaction for Chinese and English transcripts."""

from callvault.pii.engine import Analyzer
from callvault.pii.model import ENTITY_TYPES, Entity
from callvault.pii.registry import analyzer, build_analyzer

__all__ = ["ENTITY_TYPES", "Analyzer", "Entity", "analyzer", "build_analyzer"]
