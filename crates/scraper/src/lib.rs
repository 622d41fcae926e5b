//! Kubelet scraping: fetch each node's resource metrics and decode them into a metric batch.
