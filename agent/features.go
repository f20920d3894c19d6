package agent

import "os"

// DetectFeatures lists, cheaply, facts about this host that decide which
// fault kinds can run here: "root", "cgroup-v2" or "cgroup-v1", "docker".
// What the network faults can do is probed by package fault/network; the
// command adds it to Config.Features.
func DetectFeatures() []string {
	return features(os.Geteuid(), func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

// features decides the feature list from the effective uid and the paths
// that exist.
func features(euid int, exists func(string) bool) []string {
	var fs []string
	if euid == 0 {
		fs = append(fs, "root")
	}
	switch {
	case exists("/sys/fs/cgroup/cgroup.controllers"):
		fs = append(fs, "cgroup-v2")
	case exists("/sys/fs/cgroup/memory"), exists("/sys/fs/cgroup/cpu"):
		fs = append(fs, "cgroup-v1")
	}
	if exists("/var/run/docker.sock") {
		fs = append(fs, "docker")
	}
	return fs
}
