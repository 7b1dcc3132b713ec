"""One package per study (paper); each defines `STUDY` (see stages/common/study.py)."""
