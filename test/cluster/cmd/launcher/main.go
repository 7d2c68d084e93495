// Command launcher runs a throw-away Kubernetes control plane for end-to-end tests:
// an embedded etcd, kube-apiserver and kube-controller-manager as child processes,
// and an in-process pod simulator that plays the part of the kubelets.
//
// Once everything is up it prints exactly one line to stdout:
//
//	READY kubeconfig=/path/to/kubeconfig server=https://127.0.0.1:PORT
//
// SIGUSR1 stops kube-apiserver and SIGUSR2 starts it again on the same etcd data (an API server
// outage on demand, see apiserver_control.go). It keeps running until SIGINT/SIGTERM (or, with --exit-on-stdin-eof, until its
// stdin is closed), then stops the children and removes its work dir unless --keep.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	serviceClusterIPRange = "10.96.0.0/16"
	serviceClusterIP      = "10.96.0.1"
	kubernetesVersion     = "v1.34.4"
)

// kcmControllers is the set of kube-controller-manager controllers we run. Deliberately
// absent: node-lifecycle (would taint/evict our fake nodes), pod-garbage-collector,
// node-ipam, persistent volume controllers, certificate signing.
var kcmControllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"job-controller",
	"cronjob-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"namespace-controller",
	"ttl-after-finished-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
	"disruption-controller",
	"endpoints-controller",
	"endpointslice-controller",
	"service-cidr-controller",
}

type options struct {
	dir            string
	binDir         string
	kubeconfigOut  string
	keep           bool
	readyDelay     time.Duration
	runDuration    time.Duration
	deleteDelay    time.Duration
	crashInterval  time.Duration
	imagePullDelay time.Duration
	imagesPerNS    bool
	nodes          int
	startTimeout   time.Duration
	exitOnStdinEOF bool
	verbose        bool
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		if ms, err := strconv.Atoi(v); err == nil {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return def
}

func main() {
	var o options
	exe, _ := os.Executable()
	flag.StringVar(&o.dir, "dir", "", "work dir (default: a new temp dir); removed on exit unless --keep")
	flag.StringVar(&o.binDir, "bin-dir", filepath.Dir(exe), "directory holding kube-apiserver and kube-controller-manager")
	flag.StringVar(&o.kubeconfigOut, "kubeconfig-out", "", "also write the admin kubeconfig to this path")
	flag.BoolVar(&o.keep, "keep", false, "keep the work dir (data, logs, certs) on exit")
	flag.DurationVar(&o.readyDelay, "ready-delay", envDuration("SIM_READY_DELAY", 300*time.Millisecond), "delay between a pod being bound and it running/ready (env SIM_READY_DELAY)")
	flag.DurationVar(&o.runDuration, "run-duration", envDuration("SIM_RUN_DURATION", 300*time.Millisecond), "how long run-to-completion pods run before they terminate (env SIM_RUN_DURATION)")
	flag.DurationVar(&o.deleteDelay, "delete-delay", envDuration("SIM_DELETE_DELAY", 200*time.Millisecond), "delay before a terminating pod is removed (env SIM_DELETE_DELAY)")
	flag.DurationVar(&o.crashInterval, "crash-interval", envDuration("SIM_CRASH_INTERVAL", 2*time.Second), "interval between simulated restarts of crash-looping containers (env SIM_CRASH_INTERVAL)")
	flag.DurationVar(&o.imagePullDelay, "image-pull-delay", envDuration("SIM_IMAGE_PULL_DELAY", 0), "time a node takes to pull an image it does not have yet, once per node and image (env SIM_IMAGE_PULL_DELAY; a Node or pod annotation sim.peerdb-upgrade/image-pull-delay overrides it)")
	flag.BoolVar(&o.imagesPerNS, "images-per-namespace", false, "image pulls: each namespace starts from nodes without its images (a node's image cache is kept per namespace)")
	flag.IntVar(&o.nodes, "nodes", 3, "number of fake nodes")
	flag.DurationVar(&o.startTimeout, "start-timeout", 3*time.Minute, "give up if the control plane is not ready in time")
	flag.BoolVar(&o.exitOnStdinEOF, "exit-on-stdin-eof", false, "shut down when stdin is closed (for test harnesses)")
	flag.BoolVar(&o.verbose, "v", false, "also log simulator activity to stderr")
	flag.Parse()

	os.Exit(run(o))
}

func run(o options) int {
	var err error
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "peerdb-upgrade-cluster-"); err != nil {
			fmt.Fprintln(os.Stderr, "launcher:", err)
			return 1
		}
	}
	if o.dir, err = filepath.Abs(o.dir); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 1
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 1
	}
	logFile, err := os.Create(filepath.Join(o.dir, "launcher.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 1
	}
	// The launcher's own log goes to launcher.log; the important lines are echoed to stderr.
	flog := log.New(logFile, "", log.LstdFlags|log.Lmicroseconds)
	var simLogOut io.Writer = logFile
	if o.verbose {
		simLogOut = io.MultiWriter(logFile, os.Stderr)
	}
	simLog := log.New(simLogOut, "sim: ", log.LstdFlags|log.Lmicroseconds)
	say := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		flog.Print(msg)
		fmt.Fprintln(os.Stderr, "launcher: "+msg)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	stopReason := make(chan string, 4)
	go func() {
		s := <-sigs
		stopReason <- "signal " + s.String()
	}()
	if o.exitOnStdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stopReason <- "stdin closed"
		}()
	}

	var children []*child
	var etcdStop func()
	var apictl *apiServerControl
	ctlSigs := make(chan os.Signal, 4)
	signal.Notify(ctlSigs, syscall.SIGUSR1, syscall.SIGUSR2)
	cleanup := func() {
		cancel()
		signal.Stop(ctlSigs)
		// stop in reverse start order: controller-manager, apiserver, then etcd
		for i := len(children) - 1; i >= 0; i-- {
			children[i].stop(15 * time.Second)
		}
		if apictl != nil {
			apictl.shutdown()
		}
		if etcdStop != nil {
			etcdStop()
		}
		_ = logFile.Close()
		if !o.keep {
			_ = os.RemoveAll(o.dir)
		} else {
			fmt.Fprintf(os.Stderr, "launcher: kept work dir %s\n", o.dir)
		}
	}
	fail := func(err error) int {
		say("FAILED: %v", err)
		for _, c := range children {
			fmt.Fprintf(os.Stderr, "---- last lines of %s ----\n%s\n", c.logPath, tailFile(c.logPath, 40))
		}
		cleanup()
		return 1
	}

	started := time.Now()
	startCtx, startCancel := context.WithTimeout(ctx, o.startTimeout)
	defer startCancel()
	// A signal during start-up aborts start-up.
	go func() {
		select {
		case r := <-stopReason:
			stopReason <- r
			startCancel()
		case <-startCtx.Done():
		}
	}()

	ports, err := freePorts(4)
	if err != nil {
		return fail(err)
	}
	etcdPort, apiPort, kcmPort, kubeletPort := ports[0], ports[1], ports[2], ports[3]

	pkiDir := filepath.Join(o.dir, "pki")
	p, err := generatePKI(pkiDir)
	if err != nil {
		return fail(fmt.Errorf("generating certificates: %w", err))
	}

	etcdURL, stop, err := startEtcd(filepath.Join(o.dir, "etcd"), etcdPort, filepath.Join(o.dir, "etcd.log"))
	if err != nil {
		return fail(fmt.Errorf("starting etcd: %w", err))
	}
	etcdStop = stop
	flog.Printf("etcd ready at %s (%s)", etcdURL, time.Since(started))

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := filepath.Join(o.dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, p); err != nil {
		return fail(err)
	}

	apiserverArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(o.dir, "apiserver-certs"),
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CACert,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.SAPub,
		"--service-account-signing-key-file=" + p.SAKey,
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--allow-privileged=true",
		// TaintNodesByCondition would put a not-ready taint on our fake nodes; pods are
		// bound by the simulator (no scheduler) so it only adds noise. ServiceAccount
		// admission stays on: the serviceaccount controller creates "default" per namespace.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		// pods/log is proxied to the simulator's fake kubelet endpoint
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-certificate-authority=" + p.CACert,
		"--kubelet-client-certificate=" + p.AdminCert,
		"--kubelet-client-key=" + p.AdminKey,
		"--v=1",
	}
	apiserver, err := startChild("kube-apiserver", filepath.Join(o.binDir, "kube-apiserver"), filepath.Join(o.dir, "kube-apiserver.log"), apiserverArgs)
	if err != nil {
		return fail(err)
	}
	// Not in children: a test may stop and start it (SIGUSR1/SIGUSR2); cleanup stops whichever runs.
	apictl = newAPIServerControl(apiserver, filepath.Join(o.binDir, "kube-apiserver"), o.dir, apiserverArgs, say)
	go func() {
		for s := range ctlSigs {
			if s == syscall.SIGUSR1 {
				apictl.stop()
			} else if err := apictl.start(); err != nil {
				say("restarting kube-apiserver: %v", err)
			}
		}
	}()

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fail(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	if err := waitHTTP(startCtx, apiserver, server+"/readyz", adminTLS(p)); err != nil {
		return fail(fmt.Errorf("kube-apiserver not ready: %w", err))
	}
	flog.Printf("kube-apiserver ready at %s (%s)", server, time.Since(started))

	kcm, err := startChild("kube-controller-manager", filepath.Join(o.binDir, "kube-controller-manager"), filepath.Join(o.dir, "kube-controller-manager.log"), []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(kcmPort),
		"--cert-dir=" + filepath.Join(o.dir, "kcm-certs"),
		"--leader-elect=false",
		"--controllers=" + strings.Join(kcmControllers, ","),
		"--root-ca-file=" + p.CACert,
		"--service-account-private-key-file=" + p.SAKey,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--use-service-account-credentials=false",
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--concurrent-statefulset-syncs=10",
		"--concurrent-job-syncs=10",
		"--profiling=false",
		"--v=1",
	})
	if err != nil {
		return fail(err)
	}
	children = append(children, kcm)

	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	sim := newSimulator(client, simConfig{
		readyDelay: o.readyDelay, runDuration: o.runDuration, deleteDelay: o.deleteDelay,
		crashInterval: o.crashInterval, imagePullDelay: o.imagePullDelay, imagesPerNamespace: o.imagesPerNS, nodes: o.nodes, kubeletPort: kubeletPort,
	}, simLog)
	if err := sim.createNodes(startCtx); err != nil {
		return fail(fmt.Errorf("creating fake nodes: %w", err))
	}
	kubeletSrv, err := sim.serveKubelet(kubeletPort, p.KubeletCert, p.KubeletKey, p.caPEM)
	if err != nil {
		return fail(fmt.Errorf("starting fake kubelet endpoint: %w", err))
	}
	defer kubeletSrv.Close()
	simDone := make(chan struct{})
	go func() {
		defer close(simDone)
		sim.run(ctx, 4)
	}()

	if err := waitHTTP(startCtx, kcm, fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort), &tls.Config{InsecureSkipVerify: true}); err != nil {
		return fail(fmt.Errorf("kube-controller-manager not healthy: %w", err))
	}
	// The default ServiceAccount appearing proves the controllers are running; pods in
	// "default" are rejected by ServiceAccount admission until it exists.
	if err := waitFor(startCtx, func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("default").Get(startCtx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}, kcm); err != nil {
		return fail(fmt.Errorf("default ServiceAccount never appeared: %w", err))
	}
	if o.kubeconfigOut != "" {
		if err := writeKubeconfig(o.kubeconfigOut, server, p); err != nil {
			return fail(err)
		}
		kubeconfig, _ = filepath.Abs(o.kubeconfigOut)
	}
	flog.Printf("control plane ready in %s", time.Since(started))
	fmt.Fprintf(os.Stderr, "launcher: control plane %s ready in %s (work dir %s)\n", kubernetesVersion, time.Since(started).Round(time.Millisecond), o.dir)
	fmt.Fprintf(os.Stderr, "launcher:   export KUBECONFIG=%s   # Ctrl-C (SIGINT/SIGTERM) stops the cluster\n", kubeconfig)
	fmt.Printf("READY kubeconfig=%s server=%s\n", kubeconfig, server)
	_ = os.Stdout.Sync()

	startCancel()
	code := 0
	select {
	case r := <-stopReason:
		say("stopping (%s)", r)
	case c := <-apictl.unexpected:
		say("kube-apiserver exited unexpectedly: %v", c.err)
		fmt.Fprintf(os.Stderr, "%s\n", tailFile(c.logPath, 40))
		code = 1
	case <-kcm.done:
		say("kube-controller-manager exited unexpectedly: %v", kcm.err)
		fmt.Fprintf(os.Stderr, "%s\n", tailFile(kcm.logPath, 40))
		code = 1
	}
	cancel()
	<-simDone
	cleanup()
	return code
}

// freePorts reserves n distinct free loopback ports (released before use; a small race
// with other processes is accepted).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func adminTLS(p *pki) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	cert, err := tls.X509KeyPair(p.adminCertPEM, p.adminKey)
	if err != nil {
		panic(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
}

func waitHTTP(ctx context.Context, c *child, url string, tc *tls.Config) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	var last string
	err := waitFor(ctx, func() (bool, error) {
		resp, err := hc.Get(url)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK, nil
	}, c)
	if err != nil && last != "" {
		return fmt.Errorf("%w (last response: %s)", err, last)
	}
	return err
}

// waitFor polls cond every 100ms until it is true, ctx ends, or child c exits.
func waitFor(ctx context.Context, cond func() (bool, error), c *child) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		_ = err
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w: %v", ctx.Err(), err)
			}
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("%s exited: %v", c.name, c.err)
		case <-t.C:
		}
	}
}

func writeKubeconfig(path, server string, p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["peerdb-e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["peerdb-e2e-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCertPEM, ClientKeyData: p.adminKey}
	cfg.Contexts["peerdb-e2e"] = &clientcmdapi.Context{Cluster: "peerdb-e2e", AuthInfo: "peerdb-e2e-admin", Namespace: "default"}
	cfg.CurrentContext = "peerdb-e2e"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
