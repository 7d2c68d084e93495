package main

// A PeerDB per namespace, as far as an upgrade can observe it: flow-api's HTTP gateway answers
// the routes peerdb-upgrade reads (shapes as in PeerDB-io/peerdb protos/route.proto and
// flow/cmd/handlers.go, grpc-gateway JSON: lowerCamelCase, enums by name, int64 as strings), and
// flow-maintenance Job pods act like the maintenance workflows (flow/workflows/maintenance_flow.go):
//
//   start: waits while any mirror is in an in-between state (listed as a pending
//          WaitForRunningSnapshotsAndIntermediateStates activity), then enables maintenance mode,
//          pauses every running mirror and records it;
//   end:   resumes each recorded mirror without waiting for it and without failing when one does
//          not resume (mirrors marked fails-to-resume stay paused), forgets the records and
//          disables maintenance mode; the Job succeeds either way.
//
// The state is seeded from the ConfigMap peerdb-sim in the namespace (written by the e2e
// fixture): mirrors (comma-separated names, running), snapshotting (names in STATUS_SNAPSHOT
// until snapshotFor after maintenance start first waits for them; default 5s), failsToResume,
// and apiDown=true (flow-api refuses connections, like a pod without the gateway) or
// apiAuth=true (flow-api answers 401, like PEERDB_OAUTH_ISSUER_URL set). apiDown and apiAuth are
// read on every request, so a test can flip them.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	peerdbSimConfigMap  = "peerdb-sim"
	flowAPIHTTPPort     = 8113
	statusRunning       = "STATUS_RUNNING"
	statusPaused        = "STATUS_PAUSED"
	statusSnapshot      = "STATUS_SNAPSHOT"
	instanceReady       = "INSTANCE_STATUS_READY"
	instanceMaintenance = "INSTANCE_STATUS_MAINTENANCE"
	waitActivity        = "WaitForRunningSnapshotsAndIntermediateStates"
	alerterActivity     = "BackgroundAlerter"
	defaultSnapshotFor  = 5 * time.Second
)

// waitStatuses: the FlowStatus values maintenance start waits on (peerdb_maintenance_wait).
var waitStatuses = map[string]bool{
	"STATUS_UNKNOWN": true, "STATUS_PAUSING": true, "STATUS_SETUP": true, statusSnapshot: true,
	"STATUS_RESYNC": true, "STATUS_MODIFYING": true,
}

type simMirror struct {
	id          int64
	name        string
	status      string
	createdAt   time.Time
	snapshotFor time.Duration
	snapshotEnd time.Time // set when maintenance start first waits for it
	failsResume bool
}

type maintenanceRun struct {
	mode      string // start | end
	startedAt time.Time
	doneAt    time.Time // zero while running
	nextLook  time.Time // when the simulator looks at its pod again; long past = the pod is gone
}

type peerdbState struct {
	seededFrom  types.UID
	mirrors     []*simMirror
	maintenance bool     // PEERDB_MAINTENANCE_MODE_ENABLED
	recorded    []string // maintenance.maintenance_flows rows in state backup
	runs        map[types.UID]*maintenanceRun
}

type peerdbModel struct {
	mu    sync.Mutex
	state map[string]*peerdbState
	sim   *simulator
	now   func() time.Time
}

func newPeerDBModel(s *simulator) *peerdbModel {
	return &peerdbModel{state: map[string]*peerdbState{}, sim: s, now: time.Now}
}

// seedConfig reads peerdb-sim in ns (empty when absent).
func (m *peerdbModel) seedConfig(ns string) (map[string]string, types.UID) {
	if m.sim == nil || m.sim.cms == nil {
		return nil, ""
	}
	cm, err := m.sim.cms.ConfigMaps(ns).Get(peerdbSimConfigMap)
	if err != nil {
		return nil, ""
	}
	return cm.Data, cm.UID
}

// stateOf returns the namespace's state, seeding it (again) when peerdb-sim appeared or was
// replaced. Callers hold m.mu.
func (m *peerdbModel) stateOf(ns string) *peerdbState {
	data, uid := m.seedConfig(ns)
	st := m.state[ns]
	if st != nil && st.seededFrom == uid {
		return st
	}
	st = &peerdbState{seededFrom: uid, runs: map[types.UID]*maintenanceRun{}}
	m.state[ns] = st
	seedMirrors(st, data, m.now())
	return st
}

func splitNames(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func seedMirrors(st *peerdbState, data map[string]string, now time.Time) {
	snapshotFor := defaultSnapshotFor
	if d, err := time.ParseDuration(data["snapshotFor"]); err == nil {
		snapshotFor = d
	}
	add := func(name, status string) *simMirror {
		for _, mm := range st.mirrors {
			if mm.name == name {
				return mm
			}
		}
		mm := &simMirror{id: int64(len(st.mirrors) + 1), name: name, status: status, createdAt: now.Add(-time.Hour), snapshotFor: snapshotFor}
		st.mirrors = append(st.mirrors, mm)
		return mm
	}
	for _, n := range splitNames(data["mirrors"]) {
		add(n, statusRunning)
	}
	for _, n := range splitNames(data["paused"]) {
		add(n, statusPaused).status = statusPaused
	}
	for _, n := range splitNames(data["snapshotting"]) {
		add(n, statusSnapshot).status = statusSnapshot
	}
	for _, n := range splitNames(data["failsToResume"]) {
		add(n, statusRunning).failsResume = true
	}
}

// maintenanceMode reads which maintenance flow a Job pod runs: --run-maintenance-flow X or env
// RUN_MAINTENANCE_FLOW, in a flow-maintenance image. "" for any other pod.
func maintenanceMode(pod *v1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if !strings.Contains(c.Image, "/flow-maintenance:") {
			continue
		}
		args := append(append([]string{}, c.Command...), c.Args...)
		for i, a := range args {
			if a == "--run-maintenance-flow" && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, "--run-maintenance-flow="); ok {
				return v
			}
		}
		for _, e := range c.Env {
			if e.Name == "RUN_MAINTENANCE_FLOW" {
				return e.Value
			}
		}
	}
	return ""
}

// maintenanceRunFor decides how long a flow-maintenance Job pod runs, driving the workflow as it
// goes. runningSince is when the container started. It returns false for other pods (and for
// pods told to misbehave, which fail as any Job pod would).
func (m *peerdbModel) maintenanceRunFor(pod *v1.Pod, runningSince, now time.Time, runFor time.Duration) (time.Duration, bool) {
	mode := maintenanceMode(pod)
	if mode != "start" && mode != "end" {
		return 0, false
	}
	for i := range pod.Spec.Containers {
		if b, _ := behaviorOf(pod, &pod.Spec.Containers[i]); b != behaviorOK {
			return 0, false
		}
	}
	if now.Before(runningSince) {
		return runFor, true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stateOf(pod.Namespace)
	run := st.runs[pod.UID]
	if run == nil {
		run = &maintenanceRun{mode: mode, startedAt: runningSince}
		st.runs[pod.UID] = run
	}
	elapsed := now.Sub(runningSince)
	if !run.doneAt.IsZero() {
		return run.doneAt.Sub(runningSince), true
	}
	if mode == "start" {
		if len(st.pending(now)) > 0 {
			run.nextLook = now.Add(250 * time.Millisecond)
			return elapsed + 250*time.Millisecond, true // still waiting: look again soon
		}
	}
	if elapsed < runFor {
		run.nextLook = runningSince.Add(runFor)
		return runFor, true
	}
	if mode == "start" {
		st.maintenance = true
		for _, mm := range st.mirrors {
			if mm.status == statusRunning {
				mm.status = statusPaused
				if !contains(st.recorded, mm.name) {
					st.recorded = append(st.recorded, mm.name)
				}
			}
		}
	} else {
		for _, name := range st.recorded {
			if mm := st.mirror(name); mm != nil && mm.status == statusPaused && !mm.failsResume {
				mm.status = statusRunning
			}
		}
		st.recorded = nil
		st.maintenance = false
	}
	run.doneAt = now
	if m.sim != nil && m.sim.log != nil {
		m.sim.log.Printf("%s/%s: maintenance %s done", pod.Namespace, pod.Name, mode)
	}
	return elapsed, true
}

// pending lists the mirrors start waits for now, finishing snapshots whose time has come.
func (st *peerdbState) pending(now time.Time) []string {
	return st.advance(now, true)
}

// advance finishes snapshots whose time has come; with waiting (maintenance start looks at them),
// a snapshot's clock starts, so a plan's reads do not shorten the wait a test wants to observe.
func (st *peerdbState) advance(now time.Time, waiting bool) []string {
	var out []string
	for _, mm := range st.mirrors {
		if mm.status == statusSnapshot {
			if mm.snapshotEnd.IsZero() && waiting {
				mm.snapshotEnd = now.Add(mm.snapshotFor)
			}
			if !mm.snapshotEnd.IsZero() && !now.Before(mm.snapshotEnd) {
				mm.status = statusRunning
				continue
			}
		}
		if waitStatuses[mm.status] {
			out = append(out, mm.name)
		}
	}
	return out
}

func (st *peerdbState) mirror(name string) *simMirror {
	for _, mm := range st.mirrors {
		if mm.name == name {
			return mm
		}
	}
	return nil
}

func (st *peerdbState) running(mode string, now time.Time) *maintenanceRun {
	for _, r := range st.runs {
		if r.mode == mode && r.doneAt.IsZero() && now.Before(r.nextLook.Add(3*time.Second)) {
			return r
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// flowAPIVersion: what /v1/version reports, the image's tag (PEERDB_VERSION_SHA_SHORT is set to
// it when the images are built).
func flowAPIVersion(pod *v1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if t := imageTag(c.Image); t != "" {
			return t
		}
	}
	return ""
}

// serveFlowAPI answers HTTP/1.1 requests read from conn (one port-forward stream) until the
// client closes it or asks to.
func (m *peerdbModel) serveFlowAPI(pod *v1.Pod, conn io.ReadWriter) error {
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		var body []byte
		if req.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(req.Body, 1<<20))
			_ = req.Body.Close()
		}
		status, payload := m.handleFlowAPI(pod, req.Method, req.URL.Path, req.Header.Get("Authorization"), body)
		data, _ := json.Marshal(payload)
		resp := &http.Response{
			StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Request: req,
			Header:        http.Header{"Content-Type": {"application/json"}},
			ContentLength: int64(len(data)), Body: io.NopCloser(strings.NewReader(string(data))),
			Close: req.Close,
		}
		if err := resp.Write(conn); err != nil {
			return err
		}
		if req.Close {
			return nil
		}
	}
}

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// gRPC codes as grpc-gateway reports them, with their HTTP statuses.
func grpcError(code int, msg string) (int, any) {
	httpStatus := map[int]int{3: 400, 5: 404, 9: 400, 13: 500, 14: 503, 16: 401}[code]
	return httpStatus, apiError{Code: code, Message: msg, Details: []any{}}
}

func (m *peerdbModel) handleFlowAPI(pod *v1.Pod, method, path, auth string, body []byte) (int, any) {
	data, _ := m.seedConfig(pod.Namespace)
	if data["apiAuth"] == "true" && !strings.HasPrefix(auth, "Bearer ") {
		return grpcError(16, "unauthorized: missing bearer token")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stateOf(pod.Namespace)
	now := m.now()
	switch {
	case method == http.MethodGet && path == "/v1/version":
		return 200, map[string]any{"version": flowAPIVersion(pod)}
	case method == http.MethodGet && path == "/v1/instance/info":
		s := instanceReady
		if st.maintenance {
			s = instanceMaintenance
		}
		return 200, map[string]any{"status": s}
	case method == http.MethodGet && path == "/v1/instance/maintenance/status":
		return 200, st.maintenanceStatus(now)
	case method == http.MethodGet && path == "/v1/mirrors/list":
		items := []map[string]any{}
		for _, mm := range st.mirrors {
			items = append(items, map[string]any{
				"id": strconv.FormatInt(mm.id, 10), "workflowId": mm.name + "-peerflow", "name": mm.name,
				"sourceName": "pg_source", "sourceType": "POSTGRES", "destinationName": "ch_target",
				"destinationType": "CLICKHOUSE", "createdAt": float64(mm.createdAt.UnixMilli()), "isCdc": true,
			})
		}
		return 200, map[string]any{"mirrors": items}
	case method == http.MethodPost && path == "/v1/mirrors/status":
		var req struct {
			FlowJobName string `json:"flowJobName"`
		}
		_ = json.Unmarshal(body, &req)
		mm := st.mirror(req.FlowJobName)
		if mm == nil {
			return grpcError(5, fmt.Sprintf("unable to get the workflow ID of mirror %s: flow job %s not found", req.FlowJobName, req.FlowJobName))
		}
		st.advance(now, false) // a snapshot may have finished
		return 200, map[string]any{
			"flowJobName": mm.name, "cdcStatus": map[string]any{"rowsSynced": "0", "cdcBatches": []any{}},
			"currentFlowState": mm.status, "createdAt": mm.createdAt.UTC().Format(time.RFC3339Nano),
		}
	case method == http.MethodPost && path == "/v1/mirrors/state_change":
		var req struct {
			FlowJobName        string `json:"flowJobName"`
			RequestedFlowState string `json:"requestedFlowState"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return grpcError(3, "invalid request body: "+err.Error())
		}
		if st.maintenance {
			return grpcError(14, "PeerDB is under maintenance")
		}
		mm := st.mirror(req.FlowJobName)
		if mm == nil {
			return grpcError(5, fmt.Sprintf("flow %s not found", req.FlowJobName))
		}
		switch {
		case req.RequestedFlowState == statusRunning && mm.status == statusPaused:
			mm.status = statusRunning
			mm.failsResume = false // a resume by hand works
		case req.RequestedFlowState == statusPaused && mm.status == statusRunning:
			mm.status = statusPaused
		case req.RequestedFlowState == mm.status:
		case req.RequestedFlowState == statusRunning || req.RequestedFlowState == statusPaused:
			// the real handler only signals from the matching state; anything else is a no-op
		default:
			return grpcError(3, fmt.Sprintf("illegal state change requested: %s, current state is: %s", req.RequestedFlowState, mm.status))
		}
		return 200, map[string]any{}
	case method == http.MethodPost && path == "/v1/instance/maintenance/skip-snapshot-wait":
		var req struct {
			FlowNames []string `json:"flowNames"`
		}
		_ = json.Unmarshal(body, &req)
		if st.running("start", now) == nil {
			return grpcError(13, "StartMaintenanceWorkflow is not currently running")
		}
		for _, n := range req.FlowNames {
			if mm := st.mirror(n); mm != nil && mm.status == statusSnapshot {
				mm.snapshotEnd = now
			}
		}
		return 200, map[string]any{"signalSent": true, "message": fmt.Sprintf("Successfully sent skipped_snapshot_wait_flows signal for %d flows", len(req.FlowNames))}
	}
	return 404, apiError{Code: 5, Message: "Not Found", Details: []any{}}
}

func (st *peerdbState) maintenanceStatus(now time.Time) map[string]any {
	activities := []map[string]any{}
	phase := "MAINTENANCE_PHASE_UNKNOWN"
	activity := func(name, id string, since time.Time, payload string) map[string]any {
		return map[string]any{
			"activityName": name, "activityId": id,
			"activityDuration":  fmt.Sprintf("%.3fs", now.Sub(since).Seconds()),
			"lastHeartbeat":     now.UTC().Format(time.RFC3339Nano),
			"heartbeatPayloads": []string{strconv.Quote(payload)},
		}
	}
	start, end := st.running("start", now), st.running("end", now)
	switch {
	case start != nil:
		phase = "MAINTENANCE_PHASE_START_MAINTENANCE"
		activities = append(activities, activity(alerterActivity, "1", start.startedAt, "Maintenance Workflow is still running"))
		pending := st.pending(now)
		sort.Strings(pending)
		if len(pending) > 0 {
			activities = append(activities, activity(waitActivity, "2", start.startedAt, fmt.Sprintf("Waiting for mirror %s to be ready", pending[0])))
		}
	case end != nil:
		phase = "MAINTENANCE_PHASE_END_MAINTENANCE"
		activities = append(activities, activity(alerterActivity, "1", end.startedAt, "Maintenance Workflow is still running"))
	case st.maintenance:
		phase = "MAINTENANCE_PHASE_MAINTENANCE_MODE_ENABLED"
	}
	return map[string]any{
		"maintenanceRunning": start != nil || end != nil || st.maintenance,
		"phase":              phase,
		"pendingActivities":  activities,
	}
}

// apiDown: flow-api refuses connections on its HTTP port (set in peerdb-sim).
func (m *peerdbModel) apiDown(ns string) bool {
	data, _ := m.seedConfig(ns)
	return data["apiDown"] == "true"
}

// isFlowAPI: a pod that serves flow-api's gateway (its image is flow-api).
func isFlowAPI(pod *v1.Pod) bool {
	for _, c := range pod.Spec.Containers {
		if strings.Contains(c.Image, "/flow-api:") || strings.HasPrefix(c.Image, "flow-api:") {
			return true
		}
	}
	return false
}
