package main

// The pod simulator stands in for kubelets and the scheduler: it registers fake Nodes,
// binds every unscheduled pod to one of them and drives pod status through a plausible
// lifecycle. Pods can be told to misbehave (see behaviorOf).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const (
	annBehavior        = "sim.peerdb-upgrade/behavior"         // applies to every container of the pod
	annReadyDelay      = "sim.peerdb-upgrade/ready-delay"      // Go duration, overrides --ready-delay
	annRunDuration     = "sim.peerdb-upgrade/run-duration"     // Go duration, overrides --run-duration
	annTerminateDelay  = "sim.peerdb-upgrade/terminate-delay"  // Go duration, overrides --delete-delay
	annImagePullDelay  = "sim.peerdb-upgrade/image-pull-delay" // Go duration; on a Node: its pulls, on a pod: the pulls it starts
	annLog             = "sim.peerdb-upgrade/log"              // text served as every container's log
	annLogPrefix       = "sim.peerdb-upgrade/log."             // + container name: that container's log
	envBehavior        = "SIM_BEHAVIOR"                        // per-container behaviour
	envExitCode        = "SIM_EXIT_CODE"                       // non-zero: container exits with this code
	envReadyDelay      = "SIM_READY_DELAY"                     // Go duration (any container): like annReadyDelay
	envRunDuration     = "SIM_RUN_DURATION"                    // Go duration (any container): like annRunDuration
	envTerminateDelay  = "SIM_TERMINATE_DELAY"                 // Go duration (any container): like annTerminateDelay
	envLog             = "SIM_LOG"                             // this container's log text
	behaviorOK         = ""                                    // runs (and for run-to-completion pods, succeeds)
	behaviorCrashLoop  = "crashloop"                           // CrashLoopBackOff, restartCount rising
	behaviorOOM        = "oomkill"                             // CrashLoopBackOff, last state OOMKilled (137)
	behaviorBadImage   = "badimage"                            // ErrImagePull, then ImagePullBackOff
	behaviorImagePull  = "imagepull"                           // same as badimage
	behaviorConfigErr  = "configerror"                         // CreateContainerConfigError
	behaviorNotReady   = "notready"                            // running, readiness never passes
	behaviorFail       = "fail"                                // exits non-zero (Job pods fail; others crash-loop)
	simulatorFieldName = "peerdb-upgrade-sim"
)

// markers are looked for, in this order, in the tag of a container's image.
var markers = []string{behaviorCrashLoop, behaviorOOM, behaviorBadImage, behaviorImagePull, behaviorConfigErr, behaviorNotReady, behaviorFail}

type simConfig struct {
	readyDelay, runDuration, deleteDelay, crashInterval time.Duration
	// imagePullDelay: how long a node takes to pull an image it does not have yet (0: images are
	// always present). Paid once per node and image; pods needing an image being pulled wait for it.
	imagePullDelay time.Duration
	// imagesPerNamespace: each namespace meets nodes without its images, as if it had nodes of its
	// own (a benchmark upgrading many installations on one control plane, each from cold nodes).
	imagesPerNamespace bool
	nodes              int
	kubeletPort        int
}

type podState struct {
	uid          types.UID
	boundAt      time.Time // first seen bound to a node
	pulledAt     time.Time // every image of the pod present on its node (boundAt when none was pulled)
	pulled       bool      // pulledAt is known
	deletingAt   time.Time // first seen with a deletionTimestamp
	ip           string
	terminatedAt time.Time
}

type simulator struct {
	cfg       simConfig
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	pods      corelisters.PodLister
	secrets   corelisters.SecretLister
	cms       corelisters.ConfigMapLister
	nodes     corelisters.NodeLister
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *log.Logger
	mu        sync.Mutex
	state     map[string]*podState
	nodeNames []string
	next      int
	ipSeq     int
	peerdb    *peerdbModel // flow-api answers and maintenance Jobs (peerdb.go)
	// images: node + "\x00" + image (prefixed by the namespace with imagesPerNamespace) → when that
	// node has (or will have) the image.
	images map[string]time.Time
}

func newSimulator(client kubernetes.Interface, cfg simConfig, l *log.Logger) *simulator {
	f := informers.NewSharedInformerFactory(client, 0)
	s := &simulator{
		cfg: cfg, client: client, factory: f, log: l,
		pods:    f.Core().V1().Pods().Lister(),
		secrets: f.Core().V1().Secrets().Lister(),
		cms:     f.Core().V1().ConfigMaps().Lister(),
		nodes:   f.Core().V1().Nodes().Lister(),
		images:  map[string]time.Time{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 2*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "sim"}),
		state: map[string]*podState{},
	}
	s.peerdb = newPeerDBModel(s)
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	_, _ = f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	})
	// Secrets and ConfigMaps: a pod blocked on a missing one recovers when it appears.
	requeueNamespace := func(obj any) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		pods, _ := s.pods.Pods(m.GetNamespace()).List(labels.Everything())
		for _, p := range pods {
			if p.Status.Phase == v1.PodPending {
				s.queue.Add(p.Namespace + "/" + p.Name)
			}
		}
	}
	for _, inf := range []cache.SharedIndexInformer{f.Core().V1().Secrets().Informer(), f.Core().V1().ConfigMaps().Informer()} {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: requeueNamespace, UpdateFunc: func(_, o any) { requeueNamespace(o) },
		})
	}
	return s
}

func (s *simulator) createNodes(ctx context.Context) error {
	for i := 0; i < s.cfg.nodes; i++ {
		name := fmt.Sprintf("sim-node-%d", i)
		node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"type": "sim",
		}}}
		created, err := s.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = s.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return err
		}
		now := metav1.Now()
		res := v1.ResourceList{
			v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("128Gi"),
			v1.ResourcePods: resource.MustParse("250"), v1.ResourceEphemeralStorage: resource.MustParse("500Gi"),
		}
		cond := func(t v1.NodeConditionType, st v1.ConditionStatus, reason string) v1.NodeCondition {
			return v1.NodeCondition{Type: t, Status: st, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
		}
		created.Status = v1.NodeStatus{
			Capacity: res, Allocatable: res, Phase: v1.NodeRunning,
			Conditions: []v1.NodeCondition{
				cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady"),
				cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory"),
				cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure"),
				cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID"),
			},
			Addresses:       []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "127.0.0.1"}, {Type: v1.NodeHostName, Address: name}},
			DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: int32(s.cfg.kubeletPort)}},
			NodeInfo: v1.NodeSystemInfo{
				KubeletVersion: kubernetesVersion, KubeProxyVersion: kubernetesVersion, OperatingSystem: "linux",
				Architecture: "amd64", ContainerRuntimeVersion: "containerd://sim", OSImage: "peerdb-upgrade pod simulator",
				KernelVersion: "sim", MachineID: name, SystemUUID: name, BootID: name,
			},
		}
		if _, err := s.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{FieldManager: simulatorFieldName}); err != nil {
			return err
		}
		s.nodeNames = append(s.nodeNames, name)
	}
	return nil
}

func (s *simulator) run(ctx context.Context, workers int) {
	defer s.queue.ShutDown()
	s.factory.Start(ctx.Done())
	s.factory.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	s.factory.Shutdown()
}

func (s *simulator) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.sync(ctx, key); err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			s.log.Printf("%s: %v (retrying)", key, err)
		}
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

func (s *simulator) podState(key string, pod *v1.Pod) *podState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state[key]
	if st == nil || st.uid != pod.UID {
		s.ipSeq++
		st = &podState{uid: pod.UID, ip: fmt.Sprintf("10.244.%d.%d", (s.ipSeq/250)%250, s.ipSeq%250+2)}
		s.state[key] = st
	}
	return st
}

// podDuration: the pod annotation ann, else the largest value of env var env on any
// container, else def.
func podDuration(pod *v1.Pod, ann, env string, def time.Duration) time.Duration {
	if v, ok := pod.Annotations[ann]; ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	found, best := false, time.Duration(0)
	for _, c := range append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, e := range c.Env {
			if e.Name == env {
				if d, err := time.ParseDuration(e.Value); err == nil && (!found || d > best) {
					found, best = true, d
				}
			}
		}
	}
	if found {
		return best
	}
	return def
}

func (s *simulator) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := s.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		s.mu.Lock()
		delete(s.state, key)
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	st := s.podState(key, pod)
	now := time.Now()

	if pod.DeletionTimestamp != nil {
		if pod.Spec.NodeName == "" {
			return nil // the apiserver removes unbound pods itself
		}
		if st.deletingAt.IsZero() {
			st.deletingAt = now
		}
		delay := podDuration(pod, annTerminateDelay, envTerminateDelay, s.cfg.deleteDelay)
		if left := st.deletingAt.Add(delay).Sub(now); left > 0 {
			if left > time.Second {
				// a long shutdown: the pod stops being ready while it terminates
				if err := s.markTerminating(ctx, pod); err != nil {
					return err
				}
			}
			s.queue.AddAfter(key, left)
			return nil
		}
		zero := int64(0)
		err := s.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		if err == nil {
			s.log.Printf("%s: deleted", key)
		}
		return err
	}

	if pod.Spec.NodeName == "" {
		return s.bind(ctx, pod)
	}
	if !s.ownsNode(pod.Spec.NodeName) {
		return nil // bound to a node we do not simulate
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return nil
	}
	if st.boundAt.IsZero() {
		st.boundAt = now
	}
	if !st.pulled {
		st.pulledAt, st.pulled = s.pullImages(ctx, pod, now), true
	}
	desired, requeue := s.desiredStatus(pod, st, now)
	if requeue > 0 {
		s.queue.AddAfter(key, requeue)
	}
	if statusEqual(&pod.Status, desired) {
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status = *desired
	_, err = s.client.CoreV1().Pods(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: simulatorFieldName})
	if err == nil {
		s.log.Printf("%s: phase=%s ready=%v %s", key, desired.Phase, podReady(desired), summarize(desired))
	}
	return err
}

func (s *simulator) ownsNode(name string) bool {
	for _, n := range s.nodeNames {
		if n == name {
			return true
		}
	}
	return false
}

func (s *simulator) bind(ctx context.Context, pod *v1.Pod) error {
	s.mu.Lock()
	node := s.nodeNames[s.next%len(s.nodeNames)]
	s.next++
	s.mu.Unlock()
	if want := pod.Spec.NodeSelector["kubernetes.io/hostname"]; want != "" && s.ownsNode(want) {
		node = want
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err == nil {
		s.log.Printf("%s/%s: bound to %s", pod.Namespace, pod.Name, node)
	}
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // already bound or gone; the informer will tell us
	}
	return err
}

func (s *simulator) markTerminating(ctx context.Context, pod *v1.Pod) error {
	if !podReady(&pod.Status) {
		return nil
	}
	upd := pod.DeepCopy()
	now := metav1.Now()
	setCondition(&upd.Status, v1.PodReady, v1.ConditionFalse, "PodTerminating", now)
	setCondition(&upd.Status, v1.ContainersReady, v1.ConditionFalse, "PodTerminating", now)
	for i := range upd.Status.ContainerStatuses {
		upd.Status.ContainerStatuses[i].Ready = false
	}
	_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: simulatorFieldName})
	return err
}

// runToCompletion: Job pods and anything with restartPolicy Never/OnFailure terminate.
func runToCompletion(pod *v1.Pod) bool {
	for _, o := range pod.OwnerReferences {
		if o.Kind == "Job" {
			return true
		}
	}
	return pod.Spec.RestartPolicy == v1.RestartPolicyNever || pod.Spec.RestartPolicy == v1.RestartPolicyOnFailure
}

func imageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	if i := strings.LastIndex(image, ":"); i >= 0 {
		return strings.ToLower(image[i+1:])
	}
	return ""
}

// behaviorOf decides how a container misbehaves: pod annotation sim.peerdb-upgrade/behavior,
// else env SIM_BEHAVIOR, else a marker in the image tag, else env SIM_EXIT_CODE != 0 (fail).
func behaviorOf(pod *v1.Pod, c *v1.Container) (string, int32) {
	exit := int32(1)
	b := ""
	for _, e := range c.Env {
		switch e.Name {
		case envBehavior:
			b = strings.ToLower(strings.TrimSpace(e.Value))
		case envExitCode:
			if n, err := strconv.Atoi(strings.TrimSpace(e.Value)); err == nil && n != 0 {
				exit = int32(n)
				if b == "" {
					b = behaviorFail
				}
			}
		}
	}
	if v, ok := pod.Annotations[annBehavior]; ok && v != "" {
		b = strings.ToLower(strings.TrimSpace(v))
	}
	if b == "" {
		tag := imageTag(c.Image)
		for _, m := range markers {
			if strings.Contains(tag, m) {
				b = m
				break
			}
		}
	}
	if b == behaviorImagePull {
		b = behaviorBadImage
	}
	if b == behaviorOOM {
		exit = 137
	}
	return b, exit
}

// missingConfig reports what a real kubelet would fail on: a referenced Secret/ConfigMap
// (or key) that does not exist and is not optional.
func (s *simulator) missingConfig(pod *v1.Pod, c *v1.Container) string {
	opt := func(b *bool) bool { return b != nil && *b }
	for _, ef := range c.EnvFrom {
		if r := ef.SecretRef; r != nil && !opt(r.Optional) {
			if _, err := s.secrets.Secrets(pod.Namespace).Get(r.Name); err != nil {
				return fmt.Sprintf("secret %q not found", r.Name)
			}
		}
		if r := ef.ConfigMapRef; r != nil && !opt(r.Optional) {
			if _, err := s.cms.ConfigMaps(pod.Namespace).Get(r.Name); err != nil {
				return fmt.Sprintf("configmap %q not found", r.Name)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && !opt(r.Optional) {
			sec, err := s.secrets.Secrets(pod.Namespace).Get(r.Name)
			if err != nil {
				return fmt.Sprintf("secret %q not found", r.Name)
			}
			if _, ok := sec.Data[r.Key]; !ok {
				if _, ok := sec.StringData[r.Key]; !ok {
					return fmt.Sprintf("couldn't find key %s in Secret %s/%s", r.Key, pod.Namespace, r.Name)
				}
			}
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !opt(r.Optional) {
			cm, err := s.cms.ConfigMaps(pod.Namespace).Get(r.Name)
			if err != nil {
				return fmt.Sprintf("configmap %q not found", r.Name)
			}
			if _, ok := cm.Data[r.Key]; !ok {
				if _, ok := cm.BinaryData[r.Key]; !ok {
					return fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", r.Key, pod.Namespace, r.Name)
				}
			}
		}
	}
	return ""
}

func hashOf(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

func imageID(image string) string {
	repo := image
	if i := strings.Index(repo, "@"); i >= 0 {
		return image // already pinned by digest
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@sha256:" + hashOf("image", image)
}

// containerResult is the simulated outcome of one container.
type containerResult struct {
	status     v1.ContainerStatus
	started    bool // has started at least once (phase Running rather than Pending)
	ready      bool
	terminated bool
	failed     bool
}

// simulateContainer computes one container's status. elapsed is the time since the pod's
// start (after its ready delay); runToEnd is true for run-to-completion containers.
func (s *simulator) simulateContainer(pod *v1.Pod, c *v1.Container, elapsed time.Duration, runToEnd bool, runFor time.Duration, startedAt metav1.Time) containerResult {
	b, exit := behaviorOf(pod, c)
	cs := v1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: imageID(c.Image)}
	f := false
	cs.Started = &f
	if msg := s.missingConfig(pod, c); msg != "" && b != behaviorConfigErr {
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: msg}
		return containerResult{status: cs}
	}
	cid := func(n int32) string { return "containerd://" + hashOf(string(pod.UID), c.Name, strconv.Itoa(int(n))) }
	switch b {
	case behaviorBadImage:
		reason := "ErrImagePull"
		msg := fmt.Sprintf("failed to pull and unpack image %q: not found (simulated)", c.Image)
		if elapsed >= s.cfg.crashInterval {
			reason, msg = "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", c.Image)
		}
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: reason, Message: msg}
		cs.ImageID = ""
		return containerResult{status: cs}
	case behaviorConfigErr:
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: "simulated configuration error (" + annBehavior + "/image marker configerror)"}
		cs.ImageID = ""
		return containerResult{status: cs}
	}
	failing := b == behaviorCrashLoop || b == behaviorOOM || b == behaviorFail
	if runToEnd {
		if elapsed < runFor {
			t := true
			cs.Started = &t
			cs.ContainerID = cid(0)
			cs.State.Running = &v1.ContainerStateRunning{StartedAt: startedAt}
			cs.Ready = b != behaviorNotReady
			return containerResult{status: cs, started: true, ready: cs.Ready}
		}
		code, reason := int32(0), "Completed"
		if failing {
			code, reason = exit, "Error"
			if b == behaviorOOM {
				reason = "OOMKilled"
			}
		}
		cs.ContainerID = cid(0)
		cs.State.Terminated = &v1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: startedAt,
			FinishedAt: metav1.NewTime(startedAt.Add(runFor)), ContainerID: cs.ContainerID}
		return containerResult{status: cs, started: true, terminated: true, failed: code != 0}
	}
	if failing {
		restarts := int32(elapsed/s.cfg.crashInterval) + 1
		reason := "Error"
		if b == behaviorOOM {
			reason = "OOMKilled"
		}
		cs.RestartCount = restarts
		cs.ContainerID = cid(restarts)
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off 10s restarting failed container=%s pod=%s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)}
		cs.LastTerminationState.Terminated = &v1.ContainerStateTerminated{ExitCode: exit, Reason: reason,
			StartedAt: startedAt, FinishedAt: startedAt, ContainerID: cid(restarts - 1)}
		return containerResult{status: cs, started: true}
	}
	t := true
	cs.Started = &t
	cs.ContainerID = cid(0)
	cs.State.Running = &v1.ContainerStateRunning{StartedAt: startedAt}
	cs.Ready = b != behaviorNotReady
	return containerResult{status: cs, started: true, ready: cs.Ready}
}

// desiredStatus returns the status the pod should have now, and when to look again.
func (s *simulator) desiredStatus(pod *v1.Pod, st *podState, now time.Time) (*v1.PodStatus, time.Duration) {
	out := pod.Status.DeepCopy()
	readyDelay := podDuration(pod, annReadyDelay, envReadyDelay, s.cfg.readyDelay)
	runFor := podDuration(pod, annRunDuration, envRunDuration, s.cfg.runDuration)
	// The containers start once their images are on the node: ready-delay counts from then.
	startBase := st.boundAt
	if st.pulled && st.pulledAt.After(startBase) {
		startBase = st.pulledAt
	}
	if d, ok := s.peerdb.maintenanceRunFor(pod, startBase.Add(readyDelay), now, runFor); ok {
		runFor = d // a flow-maintenance Job runs as long as its workflow does
	}
	toEnd := runToCompletion(pod)
	elapsed := now.Sub(startBase)
	mnow := metav1.NewTime(now)

	out.HostIP = "127.0.0.1"
	out.HostIPs = []v1.HostIP{{IP: "127.0.0.1"}}
	if out.StartTime == nil {
		t := metav1.NewTime(st.boundAt)
		out.StartTime = &t
	}
	if out.QOSClass == "" {
		out.QOSClass = v1.PodQOSBestEffort
	}
	setCondition(out, v1.PodScheduled, v1.ConditionTrue, "", mnow)
	setCondition(out, v1.PodReadyToStartContainers, v1.ConditionTrue, "", mnow)

	if elapsed < readyDelay {
		// still "creating"
		out.Phase = v1.PodPending
		setCondition(out, v1.PodInitialized, boolCond(len(pod.Spec.InitContainers) == 0), "", mnow)
		setCondition(out, v1.PodReady, v1.ConditionFalse, "ContainersNotReady", mnow)
		setCondition(out, v1.ContainersReady, v1.ConditionFalse, "ContainersNotReady", mnow)
		out.InitContainerStatuses = waitingStatuses(pod.Spec.InitContainers, "PodInitializing")
		out.ContainerStatuses = waitingStatuses(pod.Spec.Containers, "ContainerCreating")
		return out, readyDelay - elapsed
	}
	elapsed -= readyDelay
	startedAt := metav1.NewTime(startBase.Add(readyDelay).Truncate(time.Second))
	out.PodIP = st.ip
	out.PodIPs = []v1.PodIP{{IP: st.ip}}
	requeue := time.Duration(0)

	// init containers: run to completion one after another (sidecars keep running)
	initDone := true
	var initStatuses []v1.ContainerStatus
	initFailed := false
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if !initDone {
			initStatuses = append(initStatuses, waitingStatuses([]v1.Container{*c}, "PodInitializing")...)
			continue
		}
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
		r := s.simulateContainer(pod, c, elapsed, !sidecar && toEnd, 0, startedAt)
		if !sidecar && !toEnd {
			// an init container of a long-running pod: succeeds at once unless it misbehaves
			r = s.simulateContainer(pod, c, elapsed, true, 0, startedAt)
			if r.failed {
				// a real kubelet restarts failed init containers of long-running pods
				r = s.simulateContainer(pod, &v1.Container{Name: c.Name, Image: c.Image, Env: append([]v1.EnvVar{{Name: envBehavior, Value: behaviorCrashLoop}}, c.Env...)}, elapsed, false, 0, startedAt)
				requeue = s.cfg.crashInterval
			}
		}
		if r.status.State.Waiting != nil && r.status.State.Waiting.Reason == "ErrImagePull" {
			requeue = s.cfg.crashInterval - elapsed%s.cfg.crashInterval
		}
		initStatuses = append(initStatuses, r.status)
		if r.failed && toEnd {
			initFailed = true
		}
		if sidecar {
			if !r.ready {
				initDone = false
			}
		} else if !r.terminated || r.failed {
			initDone = false
		}
	}
	out.InitContainerStatuses = initStatuses
	setCondition(out, v1.PodInitialized, boolCond(initDone), "ContainersNotInitialized", mnow)

	var statuses []v1.ContainerStatus
	allReady, allTerminated, anyFailed, allStarted := true, true, false, true
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if !initDone {
			statuses = append(statuses, waitingStatuses([]v1.Container{*c}, "PodInitializing")...)
			allReady, allTerminated, allStarted = false, false, false
			continue
		}
		r := s.simulateContainer(pod, c, elapsed, toEnd, runFor, startedAt)
		statuses = append(statuses, r.status)
		allReady = allReady && r.ready
		allTerminated = allTerminated && r.terminated
		anyFailed = anyFailed || r.failed
		allStarted = allStarted && r.started
		if w := r.status.State.Waiting; w != nil {
			switch w.Reason {
			case "CrashLoopBackOff":
				requeue = s.cfg.crashInterval - elapsed%s.cfg.crashInterval
			case "ErrImagePull":
				requeue = s.cfg.crashInterval - elapsed%s.cfg.crashInterval
			}
		}
		if toEnd && r.status.State.Running != nil {
			requeue = runFor - elapsed
		}
	}
	out.ContainerStatuses = statuses

	switch {
	case initFailed || (toEnd && allTerminated && anyFailed):
		out.Phase = v1.PodFailed
	case toEnd && allTerminated:
		out.Phase = v1.PodSucceeded
	case allStarted:
		out.Phase = v1.PodRunning
	default:
		out.Phase = v1.PodPending
	}
	if out.Phase == v1.PodSucceeded || out.Phase == v1.PodFailed {
		setCondition(out, v1.PodReady, v1.ConditionFalse, "PodCompleted", mnow)
		setCondition(out, v1.ContainersReady, v1.ConditionFalse, "PodCompleted", mnow)
		setCondition(out, v1.PodReadyToStartContainers, v1.ConditionFalse, "", mnow)
		requeue = 0
	} else {
		setCondition(out, v1.PodReady, boolCond(allReady), "ContainersNotReady", mnow)
		setCondition(out, v1.ContainersReady, boolCond(allReady), "ContainersNotReady", mnow)
	}
	return out, requeue
}

func boolCond(b bool) v1.ConditionStatus {
	if b {
		return v1.ConditionTrue
	}
	return v1.ConditionFalse
}

func waitingStatuses(cs []v1.Container, reason string) []v1.ContainerStatus {
	var out []v1.ContainerStatus
	for _, c := range cs {
		f := false
		out = append(out, v1.ContainerStatus{Name: c.Name, Image: c.Image, Started: &f,
			State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: reason}}})
	}
	return out
}

// setCondition sets a condition, keeping LastTransitionTime when the status is unchanged.
func setCondition(st *v1.PodStatus, t v1.PodConditionType, status v1.ConditionStatus, reason string, now metav1.Time) {
	if status == v1.ConditionTrue {
		reason = ""
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type == t {
			if c.Status != status {
				c.LastTransitionTime = now
			}
			c.Status, c.Reason = status, reason
			return
		}
	}
	st.Conditions = append(st.Conditions, v1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: now})
}

func podReady(st *v1.PodStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// statusEqual ignores timestamps that only move because we recomputed them.
func statusEqual(a, b *v1.PodStatus) bool {
	norm := func(s *v1.PodStatus) *v1.PodStatus {
		c := s.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastTransitionTime = metav1.Time{}
			c.Conditions[i].LastProbeTime = metav1.Time{}
		}
		return c
	}
	return apiequality.Semantic.DeepEqual(norm(a), norm(b))
}

func summarize(st *v1.PodStatus) string {
	var parts []string
	for _, cs := range append(append([]v1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...) {
		state := "?"
		switch {
		case cs.State.Running != nil:
			state = "running"
		case cs.State.Waiting != nil:
			state = cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			state = fmt.Sprintf("exit=%d", cs.State.Terminated.ExitCode)
		}
		parts = append(parts, cs.Name+"="+state)
	}
	return strings.Join(parts, " ")
}

// pullDelayFor: the pod's annotation, else its node's, else --image-pull-delay.
func (s *simulator) pullDelayFor(pod *v1.Pod) time.Duration {
	if v, ok := pod.Annotations[annImagePullDelay]; ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	if node, err := s.nodes.Get(pod.Spec.NodeName); err == nil {
		if v, ok := node.Annotations[annImagePullDelay]; ok {
			if d, err := time.ParseDuration(v); err == nil {
				return d
			}
		}
	}
	return s.cfg.imagePullDelay
}

// pullImages starts pulling, on the pod's node, each image of the pod that node does not have and
// is not already pulling, and returns when the last one the pod needs is there. Like a kubelet, a
// node pulls an image once: later pods (and pods that arrive mid-pull) share it. Images that fail to
// pull (badimage markers) are left to simulateContainer. Each real pull is reported as the kubelet
// does, with a Pulled event naming the time it took (the bench reads these).
func (s *simulator) pullImages(ctx context.Context, pod *v1.Pod, now time.Time) time.Time {
	delay := s.pullDelayFor(pod)
	ready := now
	type pull struct {
		image string
		took  time.Duration
	}
	var started []pull
	s.mu.Lock()
	for _, c := range append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if b, _ := behaviorOf(pod, &c); b == behaviorBadImage {
			continue
		}
		key := pod.Spec.NodeName + "\x00" + c.Image
		if s.cfg.imagesPerNamespace {
			key = pod.Namespace + "\x00" + key
		}
		at, known := s.images[key]
		if !known {
			at = now.Add(delay)
			s.images[key] = at
			if delay > 0 {
				started = append(started, pull{c.Image, delay})
			}
		}
		if at.After(ready) {
			ready = at
		}
	}
	s.mu.Unlock()
	for _, p := range started {
		s.log.Printf("%s/%s: pulling %s on %s (%s)", pod.Namespace, pod.Name, p.image, pod.Spec.NodeName, p.took)
		go s.pulledEvent(ctx, pod, p.image, p.took, now)
	}
	return ready
}

func (s *simulator) pulledEvent(ctx context.Context, pod *v1.Pod, image string, took time.Duration, started time.Time) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(started.Add(took))):
	}
	at := metav1.NewTime(started.Add(took))
	ev := &v1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         "Pulled",
		Message:        fmt.Sprintf("Successfully pulled image %q in %s (%s including waiting)", image, took, took),
		Source:         v1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
		FirstTimestamp: metav1.NewTime(started), LastTimestamp: at, Count: 1, Type: v1.EventTypeNormal,
	}
	if _, err := s.client.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
		s.log.Printf("%s/%s: Pulled event: %v", pod.Namespace, pod.Name, err)
	}
}
