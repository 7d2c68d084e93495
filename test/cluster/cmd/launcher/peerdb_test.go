package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func seeded(data map[string]string) (*peerdbModel, *time.Time) {
	m := newPeerDBModel(nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	st := &peerdbState{runs: map[types.UID]*maintenanceRun{}}
	seedMirrors(st, data, now)
	m.state["ns"] = st
	return m, &now
}

func maintenancePod(uid, mode string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "job-" + uid, UID: types.UID(uid)},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "maintenance", Image: "ghcr.io/peerdb-io/flow-maintenance:stable-v0.37.4",
			Args: []string{"--run-maintenance-flow", mode},
		}}},
	}
}

func statuses(m *peerdbModel) map[string]string {
	out := map[string]string{}
	for _, mm := range m.state["ns"].mirrors {
		out[mm.name] = mm.status
	}
	return out
}

func call(t *testing.T, m *peerdbModel, method, path, body string) (int, map[string]any) {
	t.Helper()
	api := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: v1.PodSpec{Containers: []v1.Container{{Image: "ghcr.io/peerdb-io/flow-api:stable-v0.37.4"}}}}
	status, payload := m.handleFlowAPI(api, method, path, "", []byte(body))
	raw, _ := json.Marshal(payload)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return status, out
}

func TestMaintenanceStartWaitsForSnapshotsThenPausesRunningMirrors(t *testing.T) {
	m, now := seeded(map[string]string{"mirrors": "mirror-1,mirror-2", "snapshotting": "mirror-3", "paused": "mine", "snapshotFor": "2s"})
	start := maintenancePod("s1", "start")
	since := *now
	runFor := 300 * time.Millisecond

	d, ok := m.maintenanceRunFor(start, since, *now, runFor)
	if !ok || d <= 0 {
		t.Fatalf("start should keep running while mirror-3 snapshots: %v %v", d, ok)
	}
	_, st := call(t, m, "GET", "/v1/instance/maintenance/status", "")
	if st["phase"] != "MAINTENANCE_PHASE_START_MAINTENANCE" || !strings.Contains(mustJSON(st["pendingActivities"]), "Waiting for mirror mirror-3 to be ready") {
		t.Fatalf("status while waiting: %v", st)
	}
	*now = now.Add(1 * time.Second)
	if d, _ := m.maintenanceRunFor(start, since, *now, runFor); d <= now.Sub(since) {
		t.Fatalf("still waiting after 1s, got run duration %v", d)
	}
	*now = now.Add(2 * time.Second)
	d, _ = m.maintenanceRunFor(start, since, *now, runFor)
	if d != now.Sub(since) {
		t.Fatalf("start should finish now, got %v", d)
	}
	want := map[string]string{"mirror-1": statusPaused, "mirror-2": statusPaused, "mirror-3": statusPaused, "mine": statusPaused}
	if got := statuses(m); !equal(got, want) {
		t.Fatalf("after start: %v", got)
	}
	if got := m.state["ns"].recorded; strings.Join(got, ",") != "mirror-1,mirror-2,mirror-3" {
		t.Fatalf("recorded %v (a mirror the user paused is not recorded)", got)
	}
	if _, info := call(t, m, "GET", "/v1/instance/info", ""); info["status"] != instanceMaintenance {
		t.Fatalf("instance info %v", info)
	}
	if code, body := call(t, m, "POST", "/v1/mirrors/state_change", `{"flowJobName":"mine","requestedFlowState":"STATUS_RUNNING"}`); code != 503 || body["message"] != "PeerDB is under maintenance" {
		t.Fatalf("state change under maintenance: %d %v", code, body)
	}
}

func TestMaintenanceEndLeavesFailingMirrorsPausedAndSucceeds(t *testing.T) {
	m, now := seeded(map[string]string{"mirrors": "mirror-1", "failsToResume": "mirror-2"})
	since := *now
	m.maintenanceRunFor(maintenancePod("s", "start"), since, now.Add(time.Second), 300*time.Millisecond)
	*now = now.Add(2 * time.Second)
	d, ok := m.maintenanceRunFor(maintenancePod("e", "end"), *now, now.Add(time.Second), 300*time.Millisecond)
	if !ok || d != time.Second {
		t.Fatalf("end should finish: %v %v", d, ok)
	}
	if got := statuses(m); got["mirror-1"] != statusRunning || got["mirror-2"] != statusPaused {
		t.Fatalf("after end: %v", got)
	}
	if _, info := call(t, m, "GET", "/v1/instance/info", ""); info["status"] != instanceReady {
		t.Fatalf("instance info %v", info)
	}
	// the way out: resume by hand
	if code, _ := call(t, m, "POST", "/v1/mirrors/state_change", `{"flowJobName":"mirror-2","requestedFlowState":"STATUS_RUNNING"}`); code != 200 {
		t.Fatalf("state change: %d", code)
	}
	if _, st := call(t, m, "POST", "/v1/mirrors/status", `{"flowJobName":"mirror-2"}`); st["currentFlowState"] != statusRunning {
		t.Fatalf("mirror status %v", st)
	}
}

func TestFlowAPIShapes(t *testing.T) {
	m, _ := seeded(map[string]string{"mirrors": "mirror-1"})
	_, list := call(t, m, "GET", "/v1/mirrors/list", "")
	item := list["mirrors"].([]any)[0].(map[string]any)
	if item["id"] != "1" || item["name"] != "mirror-1" || item["isCdc"] != true || item["sourceType"] != "POSTGRES" {
		t.Fatalf("list item %v (int64 id as a string, enums by name)", item)
	}
	if _, v := call(t, m, "GET", "/v1/version", ""); v["version"] != "stable-v0.37.4" {
		t.Fatalf("version %v", v)
	}
	if code, _ := call(t, m, "GET", "/v1/nope", ""); code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
}

func TestServeFlowAPIOverAStream(t *testing.T) {
	m, _ := seeded(map[string]string{"mirrors": "a,b"})
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: v1.PodSpec{Containers: []v1.Container{{Image: "ghcr.io/peerdb-io/flow-api:stable-v0.37.4"}}}}
	in := "GET /v1/instance/info HTTP/1.1\r\nHost: flow-api\r\n\r\nGET /v1/mirrors/list HTTP/1.1\r\nHost: flow-api\r\nConnection: close\r\n\r\n"
	rw := &bufferConn{in: strings.NewReader(in)}
	if err := m.serveFlowAPI(pod, rw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(&rw.out)
	for i, want := range []string{`"INSTANCE_STATUS_READY"`, `"name":"b"`} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Fatalf("response %d: %d %s", i, resp.StatusCode, b.String())
		}
	}
}

type bufferConn struct {
	in  *strings.Reader
	out bytes.Buffer
}

func (b *bufferConn) Read(p []byte) (int, error)  { return b.in.Read(p) }
func (b *bufferConn) Write(p []byte) (int, error) { return b.out.Write(p) }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
