// Command coredns is CoreDNS with only the plugins of kubeadm's default Corefile (errors,
// health, ready, kubernetes, prometheus, forward, cache, loop, reload, loadbalance) plus log:
// a smaller build than the full plugin set, same behaviour for a cluster's DNS.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// The order in which plugins handle a query (a subset of CoreDNS's plugin.cfg order).
var directives = []string{
	"metadata", "reload", "errors", "log", "health", "ready", "prometheus", "loadbalance",
	"cache", "loop", "kubernetes", "forward",
}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
