//! Side-by-side benchmarks; see `benches/`. This library is empty on purpose.
