package main

import (
	"io"
	"log"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func testSim() *simulator {
	return newSimulator(fake.NewSimpleClientset(), simConfig{
		readyDelay: 300 * time.Millisecond, runDuration: 300 * time.Millisecond,
		deleteDelay: 200 * time.Millisecond, crashInterval: 2 * time.Second, nodes: 1,
	}, log.New(io.Discard, "", 0))
}

func TestBehaviorOf(t *testing.T) {
	cases := []struct {
		image string
		env   []v1.EnvVar
		ann   string
		want  string
		exit  int32
	}{
		{image: "ghcr.io/peerdb-io/flow-api:stable-v0.30.0", want: ""},
		{image: "ghcr.io/peerdb-io/flow-api:stable-v0.30.0-crashloop", want: "crashloop", exit: 1},
		{image: "registry:5000/x/badimage:1", want: ""}, // markers are looked for in the tag only
		{image: "x:imagepull", want: "badimage"},
		{image: "x:v1-configerror", want: "configerror"},
		{image: "x:fail@sha256:abc", want: "fail", exit: 1},
		{image: "x:oomkill", want: "oomkill", exit: 137},
		{image: "x:1", env: []v1.EnvVar{{Name: "SIM_EXIT_CODE", Value: "3"}}, want: "fail", exit: 3},
		{image: "x:1", env: []v1.EnvVar{{Name: "SIM_BEHAVIOR", Value: "notready"}}, want: "notready"},
		{image: "x:crashloop", ann: "notready", want: "notready"},
	}
	for _, c := range cases {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
		if c.ann != "" {
			pod.Annotations[annBehavior] = c.ann
		}
		got, exit := behaviorOf(pod, &v1.Container{Image: c.image, Env: c.env})
		if got != c.want || (c.exit != 0 && exit != c.exit) {
			t.Errorf("%s %v %q: got %q/%d, want %q/%d", c.image, c.env, c.ann, got, exit, c.want, c.exit)
		}
	}
}

func TestDesiredStatusLifecycle(t *testing.T) {
	s := testSim()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n", UID: "u"},
		Spec: v1.PodSpec{NodeName: "sim-node-0", RestartPolicy: v1.RestartPolicyNever,
			Containers: []v1.Container{{Name: "main", Image: "x:1"}}},
	}
	t0 := time.Now()
	st := &podState{uid: "u", boundAt: t0, ip: "10.244.0.2"}
	status, requeue := s.desiredStatus(pod, st, t0.Add(100*time.Millisecond))
	if status.Phase != v1.PodPending || requeue <= 0 {
		t.Fatalf("creating: %s requeue %s", status.Phase, requeue)
	}
	status, _ = s.desiredStatus(pod, st, t0.Add(400*time.Millisecond))
	if status.Phase != v1.PodRunning || status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("running: %+v", status)
	}
	status, _ = s.desiredStatus(pod, st, t0.Add(700*time.Millisecond))
	if status.Phase != v1.PodSucceeded || status.ContainerStatuses[0].State.Terminated.ExitCode != 0 {
		t.Fatalf("succeeded: %+v", status)
	}
	pod.Spec.Containers[0].Image = "x:fail"
	status, _ = s.desiredStatus(pod, st, t0.Add(700*time.Millisecond))
	if status.Phase != v1.PodFailed || status.ContainerStatuses[0].State.Terminated.ExitCode != 1 {
		t.Fatalf("failed: %+v", status)
	}
	pod.Spec.RestartPolicy = v1.RestartPolicyAlways
	pod.Spec.Containers[0].Image = "x:crashloop"
	status, _ = s.desiredStatus(pod, st, t0.Add(5*time.Second))
	cs := status.ContainerStatuses[0]
	if status.Phase != v1.PodRunning || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount < 2 || podReady(status) {
		t.Fatalf("crashloop: %+v", status)
	}
	pod.Spec.Containers[0].Image = "x:1"
	status, _ = s.desiredStatus(pod, st, t0.Add(5*time.Second))
	if status.Phase != v1.PodRunning || !podReady(status) || status.PodIP != "10.244.0.2" {
		t.Fatalf("ready: %+v", status)
	}
}
