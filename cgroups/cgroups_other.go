//go:build !linux

package cgroups

import (
	"fmt"
	"os"
	"time"

	"github.com/jailrun/jailrun/policy"
)

var errPlatform = fmt.Errorf("cgroups: unsupported platform (cgroups are Linux only): %w", ErrUnsupported)

// Manager is unavailable on this platform.
type Manager struct{}

// Cgroup is unavailable on this platform.
type Cgroup struct{}

func NewManager(o Options) (*Manager, error) { return nil, errPlatform }
func (m *Manager) Mode() Mode                { return ModeNone }
func (m *Manager) Create(string, policy.Limits, policy.Require, ...string) (*Cgroup, error) {
	return nil, errPlatform
}
func (m *Manager) CreateWith(string, policy.Limits, policy.Require, CreateOptions) (*Cgroup, error) {
	return nil, errPlatform
}
func (m *Manager) Janitor() ([]string, error)      { return nil, errPlatform }
func (m *Manager) Close() error                    { return nil }
func (c *Cgroup) Path() string                     { return "" }
func (c *Cgroup) Paths() []string                  { return nil }
func (c *Cgroup) ViewDirs() map[string]string      { return nil }
func (c *Cgroup) Skipped() []string                { return nil }
func (c *Cgroup) CloneFD() (int, bool)             { return -1, false }
func (c *Cgroup) Add(int) error                    { return errPlatform }
func (c *Cgroup) OpenTasks() ([]*os.File, error)   { return nil, errPlatform }
func (c *Cgroup) CPUUsage() (time.Duration, error) { return 0, errPlatform }
func (c *Cgroup) Stats() (Stats, error)            { return Stats{}, errPlatform }
func (c *Cgroup) Kill() error                      { return errPlatform }
func (c *Cgroup) Destroy() error                   { return nil }

// OOMWatch is unavailable on this platform.
type OOMWatch struct{}

func (c *Cgroup) WatchOOM() (*OOMWatch, error) { return nil, errPlatform }
func (w *OOMWatch) Wait() bool                 { return false }
func (w *OOMWatch) Close() error               { return nil }
