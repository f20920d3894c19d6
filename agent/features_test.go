package agent

import (
	"slices"
	"testing"
)

func TestFeatures(t *testing.T) {
	tests := []struct {
		name  string
		euid  int
		paths []string
		want  []string
	}{
		{"nothing", 1000, nil, nil},
		{"root with cgroup v2", 0, []string{"/sys/fs/cgroup/cgroup.controllers"}, []string{"root", "cgroup-v2"}},
		{"cgroup v1", 1000, []string{"/sys/fs/cgroup/memory"}, []string{"cgroup-v1"}},
		{"v2 wins over a v1 hierarchy", 1000, []string{"/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/cpu"}, []string{"cgroup-v2"}},
		{"docker socket", 1000, []string{"/var/run/docker.sock"}, []string{"docker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := features(tt.euid, func(p string) bool { return slices.Contains(tt.paths, p) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("features = %v, want %v", got, tt.want)
			}
		})
	}
}
