package testenv

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// KafkaCluster is a private replicated Kafka started by
// scripts/kafka-cluster.sh: three KRaft nodes on free loopback ports, each a
// broker and a controller, topics with replication factor 3,
// min.insync.replicas=2 and unclean leader election off. Nodes are numbered
// from 1, as their node.id.
type KafkaCluster struct {
	script
	Brokers string   // the bootstrap list (every node)
	addrs   []string // node n's broker address at n-1
}

// StartKafkaCluster starts the three nodes (256 MiB heap each) and waits
// until each answers; they are SIGKILLed and their data removed when the
// test ends. Integration-only, like StartKafka.
func StartKafkaCluster(tb testing.TB) *KafkaCluster {
	tb.Helper()
	root, local := privateKafkaLocal(tb)
	used := map[int]bool{}
	free := func() string {
		p := FreePort(tb)
		for used[p] {
			p = FreePort(tb)
		}
		used[p] = true
		return strconv.Itoa(p)
	}
	var ports, cports []string
	c := &KafkaCluster{}
	for range 3 {
		ports, cports = append(ports, free()), append(cports, free())
		c.addrs = append(c.addrs, "127.0.0.1:"+ports[len(ports)-1])
	}
	c.Brokers = strings.Join(c.addrs, ",")
	c.script = script{tb: tb, path: filepath.Join(root, "scripts", "kafka-cluster.sh"), local: local, env: []string{
		"PULSESTREAM_ROOT=" + root, "PULSESTREAM_LOCAL=" + local,
		"PULSESTREAM_KAFKA_CLUSTER_PORTS=" + strings.Join(ports, ","),
		"PULSESTREAM_KAFKA_CLUSTER_CONTROLLER_PORTS=" + strings.Join(cports, ","),
		"PULSESTREAM_KAFKA_HEAP=256m",
	}}
	tb.Cleanup(func() {
		// SIGKILL: the data is thrown away, a clean stop would only cost time.
		for n := range c.addrs {
			if err := c.run("kill", strconv.Itoa(n+1)); err != nil {
				tb.Log(err)
			}
		}
	})
	c.must("start")
	return c
}

// Addr is node n's broker address.
func (c *KafkaCluster) Addr(n int) string { return c.addrs[n-1] }

// Kill SIGKILLs node n and waits until its broker port is closed.
func (c *KafkaCluster) Kill(n int) {
	c.tb.Helper()
	c.must("kill", strconv.Itoa(n))
	waitClosed(c.tb, c.Addr(n))
}

// Stop shuts node n down cleanly (SIGTERM: controlled shutdown, its
// partitions' leadership moves first), as a rolling restart does.
func (c *KafkaCluster) Stop(n int) {
	c.tb.Helper()
	c.must("stop", strconv.Itoa(n))
	waitClosed(c.tb, c.Addr(n))
}

// Start (re)starts node n on its ports and data and waits until it answers.
func (c *KafkaCluster) Start(n int) { c.tb.Helper(); c.must("start", strconv.Itoa(n)) }

// Log is the tail of node n's log (for failure messages).
func (c *KafkaCluster) Log(n, lines int) string {
	return tail(filepath.Join(c.local, "kafka-cluster", fmt.Sprintf("node%d", n), "logs", "kafka.log"), lines)
}
