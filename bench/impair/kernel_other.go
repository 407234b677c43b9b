//go:build !linux

package impair

import (
	"errors"
	"fmt"
	"runtime"
)

// KernelLossStats counts the TCP packets a KernelLoss has seen on its
// port, both directions together, since NewKernelLoss. On loopback a
// packet may carry many segments (see KernelLoss).
type KernelLossStats struct {
	Seen    uint64 // packets on the port
	Dropped uint64 // of them, dropped
}

// KernelLoss drops TCP packets on loopback with an nftables rule, which
// only Linux has: on this system NewKernelLoss always fails.
type KernelLoss struct{}

// KernelLossAvailable returns an error wrapping errors.ErrUnsupported:
// kernel TCP loss needs Linux nftables.
func KernelLossAvailable() error {
	return fmt.Errorf("impair: TCP loss needs Linux nftables, not %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// NewKernelLoss returns the error of KernelLossAvailable.
func NewKernelLoss(port uint16, loss float64) (*KernelLoss, error) {
	return nil, KernelLossAvailable()
}

// Port returns 0.
func (k *KernelLoss) Port() uint16 { return 0 }

// Loss returns 0.
func (k *KernelLoss) Loss() float64 { return 0 }

// Table returns "".
func (k *KernelLoss) Table() string { return "" }

// Stats returns ErrClosed.
func (k *KernelLoss) Stats() (KernelLossStats, error) { return KernelLossStats{}, ErrClosed }

// Close does nothing.
func (k *KernelLoss) Close() error { return nil }
