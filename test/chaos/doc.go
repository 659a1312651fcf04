// Package chaos runs the operator as it runs in a cluster, two replicas of the real manager
// binary with leader election, against the real kube-apiserver, scheduler, controller-manager and
// kwok nodes, and takes things away from it under load: the leader killed with SIGKILL,
// kube-apiserver killed and started again, both replicas stopped and started. Watches check the
// guarantees while it happens (see chaos_test.go and docs/audit.md). Linux only.
package chaos
