"""asv benchmarks for chainrule, every one parametrized by backend (see ../README in docs/performance.md)."""
