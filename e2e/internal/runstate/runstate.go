// Package runstate owns the sandbox's run directory (e2e/.run by default):
// where each file lives, the launch record `up` writes, the state the
// supervisor publishes, the env file and the kubeconfigs.
package runstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Paths lists the files of a run directory.
type Paths struct {
	RunDir                      string
	LogDir                      string
	PKIDir                      string
	EtcdDir                     string
	LaunchFile                  string
	StateFile                   string
	EnvFile                     string
	Kubeconfig                  string
	ControllerManagerKubeconfig string
	ScenarioFile                string
	LockFile                    string
}

// NewPaths returns the layout of runDir (made absolute, so that every child
// process's command line names it and `down` can find stragglers).
func NewPaths(runDir string) (Paths, error) {
	abs, err := filepath.Abs(runDir)
	if err != nil {
		return Paths{}, err
	}
	return Paths{
		RunDir:                      abs,
		LogDir:                      filepath.Join(abs, "logs"),
		PKIDir:                      filepath.Join(abs, "pki"),
		EtcdDir:                     filepath.Join(abs, "etcd"),
		LaunchFile:                  filepath.Join(abs, "launch.json"),
		StateFile:                   filepath.Join(abs, "state.json"),
		EnvFile:                     filepath.Join(abs, "env"),
		Kubeconfig:                  filepath.Join(abs, "kubeconfig"),
		ControllerManagerKubeconfig: filepath.Join(abs, "controller-manager.kubeconfig"),
		ScenarioFile:                filepath.Join(abs, "scenario.json"),
		LockFile:                    filepath.Join(abs, "lock"),
	}, nil
}

// Log returns the log file of a component.
func (p Paths) Log(component string) string { return filepath.Join(p.LogDir, component+".log") }

// Launch is what `up` decided; `down` uses it to undo host changes.
type Launch struct {
	SupervisorPID int       `json:"supervisorPID"`
	StartedAt     time.Time `json:"startedAt"`
	// Size as requested, compared by a second `up`.
	Nodes          int    `json:"nodes"`
	PodsPerNode    int    `json:"podsPerNode"`
	ScenarioSource string `json:"scenarioSource"`
	// Host network.
	HostIP           string `json:"hostIP"`
	AddedHostAddress string `json:"addedHostAddress,omitempty"`
	ExternalPrefix   string `json:"externalPrefix,omitempty"`
	AddedLocalRoute  string `json:"addedLocalRoute,omitempty"`
	// Tunables passed through to the supervisor.
	Verbosity int `json:"verbosity"`
}

// Phases of the supervisor.
const (
	PhaseStarting = "starting"
	PhaseReady    = "ready"
	PhaseFailed   = "failed"
	PhaseStopping = "stopping"
)

// State is what the supervisor publishes while it runs.
type State struct {
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
	// FailedComponent names the log to show when Phase is failed.
	FailedComponent      string            `json:"failedComponent,omitempty"`
	SupervisorPID        int               `json:"supervisorPID"`
	APIServerPID         int               `json:"apiserverPID,omitempty"`
	ControllerManagerPID int               `json:"controllerManagerPID,omitempty"`
	APIServerURL         string            `json:"apiserverURL,omitempty"`
	EtcdURL              string            `json:"etcdURL,omitempty"`
	ControlURL           string            `json:"controlURL,omitempty"`
	UpdatedAt            time.Time         `json:"updatedAt"`
	ReadyAt              time.Time         `json:"readyAt,omitzero"`
	Timings              map[string]string `json:"timings,omitempty"`
}

// WriteJSON replaces path atomically with v as indented JSON.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// ReadJSON decodes path into v.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// WriteFileAtomic writes through a temporary file and a rename.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteEnv writes shell `KEY=value` lines (values single-quoted when needed).
func WriteEnv(path string, vars map[string]string) error {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Written by e2e/sandbox up; source it: . e2e/.run/env\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(vars[k]))
	}
	return WriteFileAtomic(path, []byte(b.String()), 0o644)
}

// ReadEnv parses a file written by WriteEnv.
func ReadEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
		}
		out[k] = v
	}
	return out, nil
}

func shellQuote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r == '/' || r == '.' || r == ':' || r == '-' || r == '_' || r == ',' || r == '=' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// Credentials are the PEM blocks of a kubeconfig user.
type Credentials struct {
	User    string
	CAPEM   []byte
	CertPEM []byte
	KeyPEM  []byte
}

// WriteKubeconfig writes a kubeconfig with embedded client-certificate credentials.
func WriteKubeconfig(path, server string, creds Credentials) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: creds.CAPEM}
	cfg.AuthInfos[creds.User] = &clientcmdapi.AuthInfo{ClientCertificateData: creds.CertPEM, ClientKeyData: creds.KeyPEM}
	cfg.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: creds.User}
	cfg.CurrentContext = "sandbox"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o600)
}

// CredentialsFromFiles reads a CA and a client pair from disk.
func CredentialsFromFiles(user, caPath, certPath, keyPath string) (Credentials, error) {
	ca, err1 := os.ReadFile(caPath)
	cert, err2 := os.ReadFile(certPath)
	key, err3 := os.ReadFile(keyPath)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Credentials{}, err
	}
	return Credentials{User: user, CAPEM: ca, CertPEM: cert, KeyPEM: key}, nil
}
