"""Pipeline code: one entry module per DVC stage kind, shared numerics in `common`, one package per study in `studies`."""
