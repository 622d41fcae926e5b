//! Wire types of `metrics.k8s.io/v1beta1` and the Go formatting rules they depend on.
