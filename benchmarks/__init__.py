"""asv benchmarks of fastnet (see asv.conf.json and benchmarks/README.md)."""
