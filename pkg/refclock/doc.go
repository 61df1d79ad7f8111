// Package refclock finds the PTP hardware clocks (PHCs) that clouds give their VMs — AWS's
// ENA clock, Azure's Hyper-V clock, KVM's ptp_kvm — by their clock_name under a sysfs
// directory, matches each with its device node by device number, and turns REFCLOCK=auto
// into the vendor's documented refclock line. It reads only the directories it is given, so
// tests pass a fake tree, and it opens no device: whether chronyd may open one is preflight's
// question.
package refclock
