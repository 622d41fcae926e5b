// Package pki generates and caches every certificate and key the sandbox
// needs under the run directory's pki/ folder: the cluster CA and the
// certificates it signs (apiserver serving, admin, controller-manager,
// apiserver→kubelet client, one serving certificate per simulated kubelet),
// the front-proxy CA and client, the service-account key pair, and an
// unrelated "rogue" CA for the wrong-certificate kubelet fault.
//
// Everything is ECDSA P-256 (fast to generate). Certificates that are still
// valid for what they are used for are kept across `up`s, so a warm start with
// thousands of nodes does not re-issue thousands of kubelet certificates.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore re-issues certificates that would expire during a long session.
	renewBefore = 7 * 24 * time.Hour
)

// Authority is a CA certificate and its key.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// leafSpec is what a leaf certificate must contain.
type leafSpec struct {
	commonName string
	orgs       []string
	dnsNames   []string
	ips        []netip.Addr
	server     bool
	client     bool
}

// ensureCA loads the CA at dir/name.{crt,key} or creates a new one.
func ensureCA(dir, name, commonName string) (*Authority, bool, error) {
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if ca, err := loadAuthority(certPath, keyPath); err == nil &&
		ca.Cert.IsCA && ca.Cert.Subject.CommonName == commonName &&
		time.Until(ca.Cert.NotAfter) > renewBefore*4 {
		return ca, false, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, false, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, false, err
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return nil, false, err
	}
	return &Authority{Cert: cert, Key: key}, true, nil
}

func loadAuthority(certPath, keyPath string) (*Authority, error) {
	cert, err := loadCert(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("CA key does not match its certificate")
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// ensureLeaf keeps certPath/keyPath if they satisfy spec and chain to ca,
// otherwise issues a new pair. It reports whether it issued.
func ensureLeaf(ca *Authority, certPath, keyPath string, spec leafSpec) (bool, error) {
	if cert, err := loadCert(certPath); err == nil && leafMatches(cert, ca, spec) {
		if _, err := os.Stat(keyPath); err == nil {
			return false, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	der, err := issue(ca, &key.PublicKey, spec)
	if err != nil {
		return false, err
	}
	return true, writePair(certPath, keyPath, der, key)
}

func issue(ca *Authority, pub crypto.PublicKey, spec leafSpec) ([]byte, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     spec.dnsNames,
	}
	for _, ip := range spec.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	if spec.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
}

func leafMatches(cert *x509.Certificate, ca *Authority, spec leafSpec) bool {
	if time.Until(cert.NotAfter) < renewBefore || time.Now().Before(cert.NotBefore) {
		return false
	}
	if !bytes.Equal(cert.RawIssuer, ca.Cert.RawSubject) || cert.CheckSignatureFrom(ca.Cert) != nil {
		return false
	}
	if cert.Subject.CommonName != spec.commonName || !sameStrings(cert.Subject.Organization, spec.orgs) ||
		!sameStrings(cert.DNSNames, spec.dnsNames) {
		return false
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	var want []string
	for _, ip := range spec.ips {
		want = append(want, ip.String())
	}
	if !sameStrings(ips, want) {
		return false
	}
	if spec.server && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return false
	}
	if spec.client && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return false
	}
	return true
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand failing means the system is unusable; a fixed serial
		// would still yield a valid (if less unique) certificate.
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func loadCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, errors.New("key cannot sign")
		}
		return signer, nil
	}
	return nil, fmt.Errorf("unsupported key type %q", block.Type)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile replaces path atomically so a crash never leaves half a PEM.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
