// Package store is packetd's write-ahead record of delivery state: what the
// broker needs to rebuild itself after kill -9 and a restart. The broker
// keeps all delivery state in memory and computes everything; the store only
// persists and reloads.
//
// # What is persisted
//
// Persistent sessions (Session: rooms, settings, and how far each has
// acknowledged: Floor, Done, Missed) and the QoS 1 messages some persistent
// session has not yet acknowledged (Message: stored once, with the Num of
// every session it must reach). The broker deletes a message once all its
// recipients have acknowledged it. Nothing else is stored: no QoS 0
// messages, no non-persistent sessions, no retransmission timers.
//
// At startup Load returns every session and message, NextSeq (never a Seq
// committed before, even one since deleted) and NextNum. The broker rebuilds
// each session's queue as the messages, in Seq order, that list the
// session's Num, have a Seq above its Floor and are not in its Done.
//
// # Durability: when done fires
//
// Commit copies the batch and returns; done fires once the batch is durable.
// For Bolt that is after the bbolt transaction holding it has committed,
// which fdatasyncs the data pages and then the meta page that makes them
// visible: once done(nil) has run, the batch survives kill -9, power loss
// and kernel panics (given a disk that honours flushes). A publisher's QoS 1
// ACK must wait for it. For Memory, done fires before Commit returns and
// nothing survives the process.
//
// With Config.NoSync, done fires once the data is in the kernel's page
// cache. That survives a process crash (kill -9, panic, OOM kill) exactly as
// with fsync, but not a machine crash: the kernel may not have written the
// last commits (by default Linux writes dirty pages back within about 30 s), and without the
// fsync between data and meta pages the file can be left pointing at pages
// that never reached the disk, which Load then reports as corrupt.
//
// # Group commit
//
// One goroutine per Bolt writes. Commit appends a copy of the batch to the
// pending group under a mutex and wakes the writer; while a transaction is
// being written, new batches gather in the next group, and the writer then
// takes them all at once: one transaction and one fsync for every batch
// committed during the previous fsync. The more concurrent committers, the
// larger the groups; a single committer that waits for each done gets one
// fsync per batch. Config.MaxBatchDelay makes the writer wait a little
// longer for batches; Config.MaxBatchBytes splits a large backlog into
// several transactions.
//
// Order is preserved: a group is written in Commit order, done callbacks run
// in Commit order, and a batch never becomes durable before one committed
// ahead of it. A transaction is atomic: if it fails (disk full, I/O error)
// no batch of it is written, each done gets the error, the error is logged,
// and the store goes on with the next group.
//
// # Concurrency
//
// Bolt and Memory are safe for concurrent use; a Batch is not, and may be
// reused once Commit returns. Bolt calls done from its writer goroutine:
// done should be quick (it delays every later batch), may call Commit, and
// must not call Close. The pending backlog is not bounded by the store
// (Stats.Pending reports it); the broker bounds it by holding back ACKs,
// which holds back publishers. Close waits for every pending batch, calls
// its done, and stops the writer.
//
// # File
//
// Dir/packetd.db, a bbolt file with three buckets: meta (the format
// version), messages (Seq as 8 bytes big-endian, so they iterate in Seq
// order; the bucket's sequence is the largest Seq ever put) and sessions
// (by ClientID). Records are varint-encoded (encode.go). OpenBolt refuses a
// file of a newer format version, and fails at once if another process has
// the file open. Measured throughput is in README.md.
package store
