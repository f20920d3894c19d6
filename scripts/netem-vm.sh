#!/usr/bin/env bash
# Runs the network fault tests that need tc netem inside a throwaway VM
# booting Debian's stock kernel, where sch_netem exists (kernels without
# modules, like many CI and microVM kernels, lack it; the tests there can
# only exercise the other backends). The VM is emulated (qemu -accel tcg):
# no KVM is needed, and a paravirtual KVM that cannot boot Debian's kernel
# does not matter. Nothing is installed on the host but qemu: Debian's
# kernel and busybox-static packages are unpacked into a temporary
# directory.
#
# The VM runs the fault/network test binary, built here, on an initramfs
# with busybox, iproute2's ip and the kernel's network modules, with
# FAULTLINE_TEST_NETEM=1 so that a kernel without netem fails the run
# instead of skipping it. Exit status 0 only when the VM reports PASS.
#
# Environment: NETEM_VM_RUN (the -test.run pattern), NETEM_VM_TIMEOUT
# (seconds for the whole VM run, default 600), NETEM_VM_KEEP=1 (keep the
# work directory).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

run_pattern=${NETEM_VM_RUN:-'^Test(Delay|DelayJitter|DelayFiltered|DelayIPv6|DelayBacklog|Loss|LossCorrelated|Corrupt|Duplicate|Reorder|Conformance)$/^(netem|network\.)'}
vm_timeout=${NETEM_VM_TIMEOUT:-600}

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)   # the emulator
command -v ip >/dev/null || need+=(iproute2)                           # ip, copied into the VM (the tests make namespaces with it)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "netem-vm: missing packages: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi

work=$(mktemp -d /tmp/netem-vm.XXXXXX)
if [ "${NETEM_VM_KEEP:-}" != 1 ]; then
  trap 'rm -rf "$work"' EXIT
else
  echo "netem-vm: work directory $work"
fi

# The kernel linux-image-amd64 points at on this Debian release, and
# busybox-static, downloaded (not installed). A stale package list names
# versions the mirror no longer has: as root, refresh it once and retry.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
download() {
  local pkg
  pkg=$(kernel_pkg)
  if [ -z "$pkg" ]; then
    echo "apt-cache depends linux-image-amd64 names no kernel package"
    return 1
  fi
  (cd "$work" && apt-get download "$pkg" busybox-static 2>&1 | grep -v 'unsandboxed as root')
  [ -n "$(compgen -G "$work/${pkg}_*.deb")" ] && [ -n "$(compgen -G "$work/busybox-static_*.deb")" ]
}
if ! why=$(download); then
  if [ "$(id -u)" != 0 ] || ! apt-get update -qq || ! why=$(download); then
    echo "netem-vm: cannot download Debian's kernel and busybox-static: $why" >&2
    exit 1
  fi
fi
pkg=$(kernel_pkg)
kver=${pkg#linux-image-}
echo "netem-vm: kernel $pkg"
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/kernel"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
busybox="$work/busybox/bin/busybox"   # the VM's init and shell; here, depmod and cpio
kernel="$work/kernel/boot/vmlinuz-$kver"
mods="$work/kernel/lib/modules/$kver"
if [ ! -f "$mods/kernel/net/sched/sch_netem.ko" ]; then
  echo "netem-vm: $pkg has no sch_netem.ko: its kernel cannot test netem" >&2
  exit 1
fi

root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,etc,lib/modules/"$kver"}
mkdir -p "$root/var" && ln -s /run "$root/var/run"

echo "netem-vm: building the test binary"
CGO_ENABLED=0 go test -c -o "$root/netem.test" ./fault/network

cp "$busybox" "$root/bin/busybox"
ip=$(command -v ip)
cp "$ip" "$root/sbin/ip"
# Its shared libraries and loader, at the paths it looks them up.
for lib in $(ldd "$ip" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# The network modules (qdiscs, nftables, veth) and what they pull in, with
# a modules.dep and modules.alias from busybox depmod: the kernel loads
# what a test asks for through /sbin/modprobe (busybox), and /init loads
# the main ones up front so that a missing one is named in the log.
for d in kernel/net kernel/lib kernel/crypto kernel/arch/x86/crypto kernel/drivers/net/veth.ko; do
  mkdir -p "$root/lib/modules/$kver/$(dirname "$d")"
  cp -r "$mods/$d" "$root/lib/modules/$kver/$d"
done
cp "$mods"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/"
"$busybox" depmod -b "$root" "$kver"

cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mkdir -p /run/netns
ln -s /bin/busybox /sbin/modprobe
for m in veth sch_netem sch_htb sch_tbf cls_u32 nf_tables nfnetlink_queue nft_compat xt_NFQUEUE nft_numgen nft_reject_inet; do
  modprobe \$m || echo "netem-vm: modprobe \$m failed"
done
ip link set lo up
echo "netem-vm: running the tests"
cd /tmp
FAULTLINE_TEST_NETEM=1 /netem.test -test.v -test.count=1 -test.timeout=$((vm_timeout - 60))s -test.run '$run_pattern'
rc=\$?
if [ \$rc = 0 ]; then echo "NETEM-VM-RESULT: PASS"; else echo "NETEM-VM-RESULT: FAIL (exit \$rc)"; fi
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | "$busybox" cpio -o -H newc >"$work/initrd" 2>/dev/null)

echo "netem-vm: booting $kver under qemu (TCG), timeout ${vm_timeout}s"
start=$(date +%s)
set +e
timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
  -nographic -no-reboot -nic none \
  -kernel "$kernel" -initrd "$work/initrd" \
  -append "console=ttyS0 panic=-1 quiet rdinit=/init" </dev/null | tee "$work/console.log"
qemu=${PIPESTATUS[0]}
set -e
echo "netem-vm: the VM ran $(($(date +%s) - start))s (qemu exit $qemu)"
if [ "$qemu" = 124 ]; then
  echo "netem-vm: FAIL: the VM did not finish in ${vm_timeout}s" >&2
  exit 1
fi
if ! grep -q 'NETEM-VM-RESULT: PASS' "$work/console.log"; then
  echo "netem-vm: FAIL: the tests in the VM did not pass (see the log above)" >&2
  exit 1
fi
echo "netem-vm: PASS"
