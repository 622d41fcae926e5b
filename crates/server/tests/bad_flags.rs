//! The binary itself: bad flags end the process with status 2 and a message naming each one,
//! before any file is read or any connection made (the kubeconfig given does not exist; a
//! late check would fail on it with status 1 instead).

use std::process::Command;

#[test]
fn every_bad_flag_is_named_and_the_exit_status_is_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_metrics-server"))
        .args([
            "--kubeconfig=/nonexistent/kubeconfig",
            "--tls-min-version=VersionTLS99",
            "--tls-cipher-suites=TLS_RSA_WITH_RC4_128_SHA,TLS_NOT_A_SUITE",
            "--kubelet-preferred-address-types=InternalIP,Bogus",
            "--metric-resolution=1s",
        ])
        .output()
        .expect("the metrics-server binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    for flag in [
        "--tls-min-version=VersionTLS99",
        "TLS_RSA_WITH_RC4_128_SHA cannot be honoured",
        "unknown cipher suite TLS_NOT_A_SUITE",
        "\"Bogus\" for \"--kubelet-preferred-address-types\"",
        "--metric-resolution must be at least 10s",
    ] {
        assert!(stderr.contains(flag), "{flag:?} not named in:\n{stderr}");
    }
    assert!(
        !stderr.contains("kubeconfig"),
        "the kubeconfig was read:\n{stderr}"
    );
}
