"""Pure rules of the routing domain: no I/O, no printing, plain values in and out."""
