"""Tests of the incentive scheme for RT/RW heads (Kepgub DKI 903/2016)."""
