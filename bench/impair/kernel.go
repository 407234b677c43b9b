//go:build linux

package impair

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

const (
	// kernelTablePrefix starts the name of every table KernelLoss installs;
	// the pid and a sequence number follow, separated by underscores.
	kernelTablePrefix = "packetbench_"
	// kernelLossSteps is the numgen modulus: loss is drawn in steps of
	// 1/kernelLossSteps.
	kernelLossSteps = 1_000_000
)

// kernelTableSeq numbers this process's tables.
var kernelTableSeq atomic.Uint64

// KernelLossStats counts the TCP packets a KernelLoss has seen on its
// port, both directions together, since NewKernelLoss. On loopback a
// packet may carry many segments (see KernelLoss).
type KernelLossStats struct {
	Seen    uint64 // packets on the port
	Dropped uint64 // of them, dropped
}

// KernelLoss drops TCP packets on loopback to and from one port, in the
// kernel, until Close. It is safe for concurrent use.
//
// The user-space proxies cannot make TCP lose a segment: they see a stream
// only after the kernel has acknowledged, retransmitted and reordered it.
// KernelLoss drops the segments themselves, inside the kernel, with an
// nftables rule, so TCP's own machinery runs as over a lossy network:
// retransmission timeouts (at least 200 ms on Linux), fast retransmit,
// head-of-line blocking of the bytes behind a lost segment, and congestion
// control's response to loss.
//
// NewKernelLoss installs one table of family inet (IPv4 and IPv6), named
// packetbench_<pid>_<n>, in the caller's network namespace:
//
//	table inet packetbench_<pid>_<n> {
//		chain prerouting {
//			type filter hook prerouting priority raw; policy accept;
//			iifname "lo" meta l4proto tcp th sport PORT goto loss
//			iifname "lo" meta l4proto tcp th dport PORT goto loss
//		}
//		chain loss {
//			counter numgen random mod 1000000 < P*1000000 counter drop
//		}
//	}
//
// A packet sent over lo is received by the same host, and the prerouting
// hook sees it once, as it arrives, before the receiver's IP and TCP see
// it. The rule matches the source or the destination port, so both
// directions of a connection on PORT lose alike: data segments, pure ACKs,
// SYNs and FINs (a lost SYN or SYN-ACK costs a 1 s retransmission
// timeout). It matches only TCP, only packets arriving on lo (127.0.0.0/8,
// ::1, and the host's own addresses, which Linux also routes over lo), and
// only PORT: other ports, UDP on the same port and real interfaces are
// untouched. It runs at the raw priority, before connection tracking.
// The first counter counts the packets on PORT, the second those dropped
// (Stats).
//
// The drop is on the receiving side on purpose. On the output hook, the
// sender's own transmit call would fail (netfilter's drop returns EPERM up
// through ip_local_out): TCP would know the segment never left, keep it
// and send it again later, and count no retransmission. Measured in a 64
// MiB transfer at 5%: 62 drops on output gave 0 retransmissions; 77 drops
// on prerouting gave 57 (the rest were ACKs). On prerouting the sender has
// handed the segment to lo and learns of the loss only as over a network,
// from duplicate ACKs, SACK or a timeout.
//
// A packet is what TCP hands to lo, whose MTU is 64 KiB, with segmentation
// offload: in a bulk transfer a packet carries up to 64 KiB, many
// MSS-sized segments, lost together (a burst, as if a whole window were
// lost), so bulk figures on loopback overstate the cost of loss. Small
// messages sent one at a time travel one per packet, and lose singly as
// over a real path.
//
// Each packet is dropped independently with probability P, from the
// kernel's random numbers in steps of one in a million. The kernel takes no
// seed: which packets are lost, and so every figure measured through
// KernelLoss, differs from run to run, unlike the user-space proxies, which
// are deterministic from Options.Seed. Measure over enough packets, or
// repeat runs, to quote a figure. Two KernelLoss on one port compound:
// a packet survives both with probability (1-P1)(1-P2).
//
// Close deletes the table. A process killed before Close (SIGKILL, a crash)
// leaves its table behind, and the port stays lossy. NewKernelLoss
// therefore first deletes every inet table named packetbench_<pid>_<n>
// whose pid is no longer a running process, and never touches another
// table: not another live process's, nor any table named otherwise. (The
// kernel could delete a table when its creator's netlink socket closes,
// NFT_TABLE_F_OWNER, but github.com/google/nftables v0.3.0 does not let a
// table set its flags.) A pid reused by a new process keeps a stale table
// until that process exits too. Without a new NewKernelLoss, a stale
// table can be removed by hand with "nft delete table inet NAME", or by
// rebooting. packetbench should Close on SIGINT and SIGTERM.
//
// KernelLoss needs Linux with nf_tables and numgen (CONFIG_NF_TABLES,
// CONFIG_NFT_NUMGEN) and CAP_NET_ADMIN in the network namespace (root);
// KernelLossAvailable says whether this process has them. It needs no nft
// binary: it speaks netlink to the kernel directly.
type KernelLoss struct {
	port  uint16
	loss  float64
	table *nftables.Table

	mu     sync.Mutex // guards the field below
	closed bool
}

// KernelLossAvailable returns nil if this process can install the rules
// of NewKernelLoss, and otherwise an error that says what is missing: it
// wraps os.ErrPermission without CAP_NET_ADMIN, and errors.ErrUnsupported
// without nf_tables or numgen. It checks by installing a KernelLoss table
// and deleting it in the same transaction, which leaves nothing behind.
func KernelLossAvailable() error {
	c, err := nftables.New()
	if err != nil {
		return kernelLossError(err)
	}
	t := kernelRules(c, 1, 0.5)
	c.DelTable(t)
	return kernelLossError(c.Flush())
}

// NewKernelLoss starts dropping TCP packets arriving on interface lo whose
// source or destination port is port, each with probability loss, in
// (0, 1), in steps of one in a million. It first deletes the tables of
// dead processes (see KernelLoss). Its errors are those of
// KernelLossAvailable, or wrap ErrConfig for a port or loss out of range.
func NewKernelLoss(port uint16, loss float64) (*KernelLoss, error) {
	if port == 0 {
		return nil, fmt.Errorf("%w: KernelLoss port 0", ErrConfig)
	}
	if !(loss > 0 && loss < 1) {
		return nil, fmt.Errorf("%w: KernelLoss loss %v not in (0, 1)", ErrConfig, loss)
	}
	if kernelThreshold(loss) == 0 {
		return nil, fmt.Errorf("%w: KernelLoss loss %v below %v", ErrConfig, loss, 1.0/kernelLossSteps)
	}
	c, err := nftables.New()
	if err != nil {
		return nil, kernelLossError(err)
	}
	if err := removeStaleTables(c); err != nil {
		return nil, err
	}
	t := kernelRules(c, port, loss)
	if err := c.Flush(); err != nil {
		return nil, kernelLossError(err)
	}
	return &KernelLoss{port: port, loss: loss, table: t}, nil
}

// Port returns the port whose segments are dropped.
func (k *KernelLoss) Port() uint16 { return k.port }

// Loss returns the probability that a segment is dropped.
func (k *KernelLoss) Loss() float64 { return k.loss }

// Table returns the name of the nftables table, of family inet.
func (k *KernelLoss) Table() string { return k.table.Name }

// Stats reads the kernel's counters. It returns ErrClosed after Close.
func (k *KernelLoss) Stats() (KernelLossStats, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return KernelLossStats{}, ErrClosed
	}
	c, err := nftables.New()
	if err != nil {
		return KernelLossStats{}, err
	}
	rules, err := c.GetRules(k.table, &nftables.Chain{Name: "loss", Table: k.table})
	if err != nil {
		return KernelLossStats{}, fmt.Errorf("impair: reading the counters of table %s: %w", k.table.Name, err)
	}
	var counts []uint64
	for _, r := range rules {
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				counts = append(counts, ctr.Packets)
			}
		}
	}
	if len(counts) != 2 {
		return KernelLossStats{}, fmt.Errorf("impair: table %s has %d counters, want 2", k.table.Name, len(counts))
	}
	return KernelLossStats{Seen: counts[0], Dropped: counts[1]}, nil
}

// Close deletes the table, which ends the loss at once. Closing twice is a
// no-op. A table already deleted by someone else is not an error.
func (k *KernelLoss) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if err := deleteTable(c, k.table); err != nil {
		return fmt.Errorf("impair: deleting table inet %s: %w", k.table.Name, err)
	}
	k.closed = true
	return nil
}

// kernelRules queues, on c, the table of a new KernelLoss and returns it.
func kernelRules(c *nftables.Conn, port uint16, loss float64) *nftables.Table {
	name := kernelTablePrefix + strconv.Itoa(os.Getpid()) + "_" + strconv.FormatUint(kernelTableSeq.Add(1), 10)
	t := c.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	policy := nftables.ChainPolicyAccept
	prerouting := c.AddChain(&nftables.Chain{
		Name:     "prerouting",
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRaw,
		Policy:   &policy,
	})
	lossChain := c.AddChain(&nftables.Chain{Name: "loss", Table: t})

	lo := make([]byte, unix.IFNAMSIZ)
	copy(lo, "lo")
	p := binary.BigEndian.AppendUint16(nil, port)
	for _, offset := range []uint32{0, 2} { // th sport, th dport
		c.AddRule(&nftables.Rule{Table: t, Chain: prerouting, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: lo},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p},
			&expr.Verdict{Kind: expr.VerdictGoto, Chain: lossChain.Name},
		}})
	}
	// numgen writes a number in host order, and cmp compares bytes, so
	// the number is turned big-endian before "<", as nft does.
	c.AddRule(&nftables.Rule{Table: t, Chain: lossChain, Exprs: []expr.Any{
		&expr.Counter{},
		&expr.Numgen{Register: 1, Modulus: kernelLossSteps, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, kernelThreshold(loss))},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	return t
}

// kernelThreshold returns the numgen values below which a segment drops.
func kernelThreshold(loss float64) uint32 {
	return uint32(math.Round(loss * kernelLossSteps))
}

// removeStaleTables deletes the inet tables named packetbench_<pid>_<n>
// whose pid is not a running process.
func removeStaleTables(c *nftables.Conn) error {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return kernelLossError(err)
	}
	for _, t := range tables {
		pid, ok := kernelTablePid(t.Name)
		if !ok || processExists(pid) {
			continue
		}
		// One table per transaction: another process sweeping at the
		// same time may delete it first, which must not fail the rest.
		if err := deleteTable(c, t); err != nil {
			return fmt.Errorf("impair: deleting stale table inet %s: %w", t.Name, err)
		}
	}
	return nil
}

// deleteTable deletes t, and succeeds if it is already gone.
func deleteTable(c *nftables.Conn, t *nftables.Table) error {
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// kernelTablePid returns the pid in a table name of the form
// packetbench_<pid>_<n>, and whether the name has that form.
func kernelTablePid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, kernelTablePrefix)
	if !ok {
		return 0, false
	}
	pidText, seqText, ok := strings.Cut(rest, "_")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != pidText {
		return 0, false
	}
	if _, err := strconv.ParseUint(seqText, 10, 64); err != nil {
		return 0, false
	}
	return pid, true
}

// processExists reports whether pid is a running process, or one whose
// state cannot be told, which is left alone. A zombie, killed but not yet
// reaped by its parent, is not running: it has closed its files and will
// not delete its tables.
func processExists(pid int) bool {
	if errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command, in parentheses, which may itself
	// hold parentheses and spaces: "pid (comm) S ...".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}

// kernelLossError turns an error from nftables into one that says what
// is missing, or returns nil for nil.
func kernelLossError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("impair: TCP loss needs root (CAP_NET_ADMIN) to install an nftables rule; "+
			"run as root, or measure loss over UDP, which needs no privilege: %w", err)
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP),
		errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("impair: TCP loss needs nf_tables with numgen in the kernel "+
			"(CONFIG_NF_TABLES, CONFIG_NFT_NUMGEN): %w: %w", errors.ErrUnsupported, err)
	default:
		return fmt.Errorf("impair: installing an nftables rule for TCP loss: %w", err)
	}
}
