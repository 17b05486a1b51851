"""asv benchmarks of fastnet (see asv.conf.json and the README's Performance section)."""
