//go:build linux

package chaos

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
)

// chaosRuns is how many times the whole scenario runs: the guarantees must hold every time.
const chaosRuns = 3

// One run: a steady load of governed pod creations (and deletions), and relabels that move an EU
// node's region out and back, while the leader is killed with SIGKILL, kube-apiserver is killed
// and started again, and both replicas are stopped for a while and started again.
//
// Checked continuously by watches: every governed pod bound carries the required EU affinity
// (kube-apiserver's compiled policy placed it); a governed pod on a node outside the EU (by
// its region, the truth) for longer than announceWithin while the operator and kube-apiserver
// were there is announced as a violation by then (time during a disruption, until a replica
// leads again, does not count); every
// eviction was announced before, and happens no earlier than the announced time; no pod is
// evicted twice; no eviction happens while the brake is engaged (a person resumes it). After the
// last recovery, the store's status tells the truth within convergeWithin.
const (
	killLeaderAt     = 13 * time.Second // after two relabels with everything up
	crashAPIAt       = 22 * time.Second
	restartBothAt    = 32 * time.Second
	bothDownFor      = 5 * time.Second
	grace            = 3 * time.Second
	governedCap      = 30 // the load deletes its oldest governed pod beyond this
	createEvery      = 150 * time.Millisecond
	relabelEvery     = 6 * time.Second
	relabelOutFor    = 5 * time.Second
	convergeWithin   = 10 * time.Second
	announceWithin   = 3 * time.Second // a pod outside, with the operator up, is announced within this
	resumeBrakeAfter = 2 * time.Second // the person who resumes an engaged brake
)

var _ = Describe("Chaos: the operator killed, restarted and cut off from kube-apiserver under load", Ordered, func() {
	for run := 1; run <= chaosRuns; run++ {
		It(fmt.Sprintf("keeps every guarantee, run %d of %d", run, chaosRuns), func() { chaosRun(run) })
	}
})

func chaosRun(run int) {
	ns := fmt.Sprintf("chaos-%d", run)
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
		ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: ns},
		Spec: v1alpha1.PersonalDataStoreSpec{
			DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
			AllowedJurisdictions: []v1alpha1.JurisdictionName{"chaos-eu"},
			WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "governed"}},
			Enforcement:          v1alpha1.Enforce,
			EvictionGracePeriod:  &metav1.Duration{Duration: grace},
		},
	})).To(Succeed())
	Eventually(func(g Gomega) {
		n := &corev1.Namespace{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, n)).To(Succeed())
		g.Expect(n.Labels).To(HaveKey(v1alpha1.PoliciesCompiledLabel))
	}).Should(Succeed())
	// The compiled policies reach kube-apiserver's informers a moment after they are written.
	Eventually(func(g Gomega) {
		probe := governedPod(ns, "probe")
		g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		g.Expect(probe.Spec.Affinity).NotTo(BeNil())
	}).Should(Succeed())

	obs := newObserver(ns)
	stopWatch := obs.watch()
	defer stopWatch()

	acquisitionsBefore, crashesBefore := operator.counts()
	began := time.Now()
	loadDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer GinkgoRecover(); defer wg.Done(); obs.load(loadDone) }()
	go func() { defer GinkgoRecover(); defer wg.Done(); obs.relabel(loadDone) }()
	go func() { defer GinkgoRecover(); defer wg.Done(); obs.resumeBrake(loadDone) }()

	at := func(d time.Duration) { time.Sleep(time.Until(began.Add(d))) }
	figures := map[string]int{}

	// ledAgain waits until a replica acquires the lease after since, and a moment more for the
	// caches (the operator's and the watches') to catch up: the disruption is then over.
	ledAgain := func(since time.Time) {
		Eventually(func() bool { return operator.lastAcquisition().After(since) && operator.leader() != "" }).
			WithTimeout(60 * time.Second).Should(BeTrue())
		time.Sleep(time.Second)
		obs.calm()
	}

	at(killLeaderAt)
	By("killing the leader with SIGKILL; it comes back 2 s later")
	leader := operator.byName(operator.leader())
	Expect(leader).NotTo(BeNil(), "a replica leads before the kill")
	obs.disrupt()
	killed := time.Now()
	operator.stop(leader, syscall.SIGKILL, time.Second)
	time.Sleep(2 * time.Second)
	Expect(operator.start(leader)).To(Succeed())
	figures["leader kills"]++
	ledAgain(killed)

	at(crashAPIAt)
	By("killing kube-apiserver with SIGKILL and starting it again")
	obs.disrupt()
	Expect(cluster.CrashAPIServer()).To(Succeed())
	figures["kube-apiserver crashes"]++
	// The lease may have outlived the crash: then the leader goes on, once its watches are back.
	Eventually(operator.leader).WithTimeout(60 * time.Second).ShouldNot(BeEmpty())
	time.Sleep(2 * time.Second)
	obs.calm()

	at(restartBothAt)
	By("stopping both replicas for a while under load, then starting them again")
	obs.disrupt()
	stopped := time.Now()
	for _, r := range operator.replicas {
		operator.stop(r, syscall.SIGTERM, 15*time.Second)
	}
	time.Sleep(bothDownFor)
	for _, r := range operator.replicas {
		Expect(operator.start(r)).To(Succeed())
	}
	figures["replica restarts"] += len(operator.replicas)
	Eventually(func() bool { return operator.lastAcquisition().After(stopped) && operator.leader() != "" }).
		WithTimeout(60 * time.Second).Should(BeTrue())

	By("stopping the load and moving every node home once a replica leads again")
	close(loadDone)
	wg.Wait()
	By("waiting for the statuses to tell the truth")
	// Recovery: a replica leads again (the latest, should the lease change hands meanwhile). The
	// statuses were stale for the whole time both replicas were down, and the load went on.
	var converged time.Duration
	Eventually(func(g Gomega) {
		obs.expectConverged(g)
		converged = time.Since(operator.lastAcquisition())
	}).WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	obs.calm()
	stopWatch()

	obs.mu.Lock()
	defer obs.mu.Unlock()
	obs.closeEpisodes(time.Now())
	obs.checkEvictedOnce()
	figures["pods created"] = obs.created
	figures["pod creations refused while kube-apiserver was away"] = obs.createErrors
	figures["relabels"] = obs.relabels
	acquisitions, crashes := operator.counts()
	figures["lease acquisitions"] = acquisitions - acquisitionsBefore
	figures["replica exits on a lost lease (restarted)"] = crashes - crashesBefore
	figures["pods announced as violations"] = len(obs.announced)
	figures["evictions"] = len(obs.evictions)
	figures["brake engagements"] = obs.brakeEngagements
	figures["pods outside with the operator up, checked for an announcement"] = obs.checkedEpisodes
	report := []string{fmt.Sprintf("run %d: statuses true %s after a replica led again", run, converged.Round(10*time.Millisecond))}
	keys := make([]string, 0, len(figures))
	for k := range figures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		report = append(report, fmt.Sprintf("%s: %d", k, figures[k]))
	}
	AddReportEntry(fmt.Sprintf("chaos run %d", run), strings.Join(report, "; "))
	GinkgoWriter.Println(strings.Join(report, "\n"))

	Expect(obs.failures).To(BeEmpty(), "invariants broken during the run")
	Expect(converged).To(BeNumerically("<=", convergeWithin), "statuses converge within %s of recovery", convergeWithin)
	Expect(obs.created).To(BeNumerically(">", 100), "the load ran")
	Expect(obs.relabels).To(BeNumerically(">=", 4), "the relabeller ran")
	Expect(obs.checkedEpisodes).To(BeNumerically(">", 0), "some pods were outside with the operator up")

	By("taking the namespace down before the next run")
	Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	Eventually(func(g Gomega) {
		var stores v1alpha1.PersonalDataStoreList
		g.Expect(k8sClient.List(ctx, &stores, client.InNamespace(ns))).To(Succeed())
		g.Expect(stores.Items).To(BeEmpty())
	}).Should(Succeed())
}

func governedPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "governed"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
}

// observer keeps what the watches saw during a run and the invariants they broke.
type observer struct {
	ns string

	mu           sync.Mutex
	nodes        map[string]*corev1.Node
	bound        map[types.UID]bool
	placed       map[types.UID]podRef   // governed pods on a node, not being deleted
	outside      map[types.UID]*episode // governed pods now on a node outside the EU by its region
	announced    map[string]announcement
	evictions    map[types.UID]time.Time
	engagedSince time.Time // the brake's ConfigMap said Engaged; zero while it does not
	resumeAsked  time.Time
	brakeEngagements,
	created, createErrors, relabels, checkedEpisodes int
	deletedByLoad map[string]bool
	evictedEvents map[string]map[string]int32 // pod -> Evicted Event -> its count
	// disruptions are the intervals during which the operator or kube-apiserver was away, from
	// the disruption until a replica led again; to is zero while one lasts.
	disruptions []interval
	failures    []string
}

type interval struct{ from, to time.Time }

// disrupt opens a disruption; calm closes the open one.
func (o *observer) disrupt() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.disruptions = append(o.disruptions, interval{from: time.Now()})
}

func (o *observer) calm() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.disruptions); n > 0 && o.disruptions[n-1].to.IsZero() {
		o.disruptions[n-1].to = time.Now()
	}
}

// undisturbed reports whether nothing was away between from and to.
func (o *observer) undisturbed(from, to time.Time) bool {
	for _, d := range o.disruptions {
		if d.from.Before(to) && (d.to.IsZero() || d.to.After(from)) {
			return false
		}
	}
	return true
}

type podRef struct{ name, node string }

// episode is a governed pod on a node whose region is outside the EU, from since.
type episode struct {
	pod   string
	node  string
	since time.Time
}

// announcement is the earliest eviction time the operator announced for a pod (in an Event or
// in the store's status), and when the watches first saw one.
type announcement struct {
	evictAt time.Time
	seen    time.Time
}

func newObserver(ns string) *observer {
	return &observer{ns: ns, nodes: map[string]*corev1.Node{}, bound: map[types.UID]bool{}, placed: map[types.UID]podRef{},
		outside: map[types.UID]*episode{}, announced: map[string]announcement{}, evictions: map[types.UID]time.Time{},
		deletedByLoad: map[string]bool{}, evictedEvents: map[string]map[string]int32{}}
}

func (o *observer) fail(format string, args ...any) {
	o.failures = append(o.failures, fmt.Sprintf(time.Now().Format("15:04:05.000 ")+format, args...))
}

// watch starts the informers and the status poller; the returned func stops them.
func (o *observer) watch() func() {
	stop := make(chan struct{})
	nodes := informers.NewSharedInformerFactory(clientset, 0)
	_, _ = nodes.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.onNode(obj.(*corev1.Node)) },
		UpdateFunc: func(_, obj any) { o.onNode(obj.(*corev1.Node)) },
	})
	inNS := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(o.ns))
	_, _ = inNS.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.onPod(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { o.onPod(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok { // missed while a watch was down
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok && p.Labels["app"] == "governed" {
				o.mu.Lock()
				delete(o.placed, p.UID)
				o.endEpisode(p.UID, time.Now())
				o.onDeletion(p)
				o.mu.Unlock()
			}
		},
	})
	_, _ = inNS.Core().V1().Events().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.onEvent(obj.(*corev1.Event)) },
		UpdateFunc: func(_, obj any) { o.onEvent(obj.(*corev1.Event)) },
	})
	inOperatorNS := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(operatorNamespace))
	_, _ = inOperatorNS.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.onBrake(obj.(*corev1.ConfigMap)) },
		UpdateFunc: func(_, obj any) { o.onBrake(obj.(*corev1.ConfigMap)) },
	})
	for _, f := range []informers.SharedInformerFactory{nodes, inNS, inOperatorNS} {
		f.Start(stop)
		f.WaitForCacheSync(stop)
	}
	// The store's status through a watch, as promptly as the operator sees it: an eviction comes
	// at least a reconcile after the status that announced it.
	dyn := dynamic.NewForConfigOrDie(cluster.Config)
	stores := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, o.ns, nil)
	onStore := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		store := &v1alpha1.PersonalDataStore{}
		if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, store) != nil {
			return
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, v := range store.Status.Violations {
			if v.Object.Kind == "Pod" && v.EvictionTime != nil {
				o.announce(v.Object.Name, v.EvictionTime.Time)
			}
		}
	}
	_, _ = stores.ForResource(v1alpha1.GroupVersion.WithResource("personaldatastores")).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onStore, UpdateFunc: func(_, obj any) { onStore(obj) },
	})
	stores.Start(stop)
	stores.WaitForCacheSync(stop)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			stores.Shutdown()
			nodes.Shutdown()
			inNS.Shutdown()
			inOperatorNS.Shutdown()
		})
	}
}

// requiresEU reports whether every required node affinity term of the pod asks for the chaos-eu
// jurisdiction label.
func requiresEU(p *corev1.Pod) bool {
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil || p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, t := range terms {
		if !slices.ContainsFunc(t.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
			return r.Key == v1alpha1.JurisdictionLabel("chaos-eu") && r.Operator == corev1.NodeSelectorOpIn && slices.Equal(r.Values, []string{"true"})
		}) {
			return false
		}
	}
	return len(terms) > 0
}

func regionOutside(n *corev1.Node) bool { return n.Labels[corev1.LabelTopologyRegion] != euRegion }

func (o *observer) onNode(n *corev1.Node) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	o.nodes[n.Name] = n
	// Episodes start and end with the node's region.
	for uid, ref := range o.placed {
		_, out := o.outside[uid]
		switch {
		case ref.node != n.Name:
		case out && !regionOutside(n):
			o.endEpisode(uid, now)
		case !out && regionOutside(n):
			o.outside[uid] = &episode{pod: ref.name, node: n.Name, since: now}
		}
	}
}

func (o *observer) onPod(p *corev1.Pod) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if p.Labels["app"] != "governed" {
		return
	}
	if p.DeletionTimestamp != nil {
		delete(o.placed, p.UID)
		o.endEpisode(p.UID, now)
		o.onDeletion(p)
		return
	}
	if p.Spec.NodeName == "" {
		return
	}
	node := o.nodes[p.Spec.NodeName]
	if node == nil {
		return
	}
	if !o.bound[p.UID] {
		o.bound[p.UID] = true
		// kube-apiserver placed it (the compiled policy) before the scheduler saw it: a bound
		// governed pod without the requirement escaped admission. Where the scheduler then put it
		// is checked by the truth, the node's region (episodes), not by the labels it used.
		if !requiresEU(p) {
			o.fail("pod %s bound to %s without the required chaos-eu node affinity: %v", p.Name, node.Name, p.Spec.Affinity)
		}
	}
	o.placed[p.UID] = podRef{name: p.Name, node: node.Name}
	if _, ok := o.outside[p.UID]; !ok && regionOutside(node) {
		o.outside[p.UID] = &episode{pod: p.Name, node: node.Name, since: now}
	}
}

// onDeletion checks an eviction when the pod's deletion shows one.
func (o *observer) onDeletion(p *corev1.Pod) {
	if _, seen := o.evictions[p.UID]; seen || o.deletedByLoad[p.Name] {
		return
	}
	var evictedAt time.Time
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "EvictionByEvictionAPI" {
			evictedAt = c.LastTransitionTime.Time
		}
	}
	if evictedAt.IsZero() {
		return
	}
	o.evictions[p.UID] = evictedAt
	a, ok := o.announced[p.Name]
	switch {
	case !ok:
		o.fail("pod %s evicted at %s without an announcement", p.Name, evictedAt.Format(time.TimeOnly))
	case evictedAt.Before(a.evictAt.Truncate(time.Second)):
		o.fail("pod %s evicted at %s, before its announced time %s", p.Name, evictedAt.Format(time.TimeOnly), a.evictAt.Format(time.TimeOnly))
	}
	// The ConfigMap is written after the brake pauses evictions, and read every two seconds
	// after a person resumes them: an eviction a second past the one and before the other is
	// one the brake should have held.
	if !o.engagedSince.IsZero() && evictedAt.After(o.engagedSince.Add(time.Second)) &&
		(o.resumeAsked.IsZero() || evictedAt.Before(o.resumeAsked.Add(-time.Second))) {
		o.fail("pod %s evicted at %s while the eviction brake was engaged (since %s)", p.Name, evictedAt.Format(time.TimeOnly), o.engagedSince.Format(time.TimeOnly))
	}
}

var evictAtText = regexp.MustCompile(`evicted at (\S+) unless`)

func (o *observer) onEvent(e *corev1.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e.InvolvedObject.Kind != "Pod" {
		return
	}
	switch e.Reason {
	case controllers.EventResidencyViolation:
		if m := evictAtText.FindStringSubmatch(e.Message); m != nil {
			if t, err := time.Parse(time.RFC3339, m[1]); err == nil {
				o.announce(e.InvolvedObject.Name, t)
			}
		}
	case controllers.EventEvicted:
		if o.evictedEvents[e.InvolvedObject.Name] == nil {
			o.evictedEvents[e.InvolvedObject.Name] = map[string]int32{}
		}
		o.evictedEvents[e.InvolvedObject.Name][e.Name] = max(1, e.Count, seriesCount(e))
	}
}

func seriesCount(e *corev1.Event) int32 {
	if e.Series == nil {
		return 0
	}
	return e.Series.Count
}

// checkEvictedOnce fails for a pod evicted more than once: two Evicted Events (two replicas, or
// one after a restart), or one Event repeated.
func (o *observer) checkEvictedOnce() {
	for pod, events := range o.evictedEvents {
		var n int32
		for _, count := range events {
			n += count
		}
		if n > 1 {
			o.fail("pod %s evicted %d times", pod, n)
		}
	}
}

func (o *observer) announce(pod string, evictAt time.Time) {
	a, ok := o.announced[pod]
	if !ok {
		a = announcement{evictAt: evictAt, seen: time.Now()}
	} else if evictAt.Before(a.evictAt) {
		a.evictAt = evictAt
	}
	o.announced[pod] = a
}

func (o *observer) onBrake(cm *corev1.ConfigMap) {
	if cm.Name != controllers.BrakeConfigMap {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	engaged := cm.Data["state"] == "Engaged"
	switch {
	case engaged && o.engagedSince.IsZero():
		o.engagedSince, o.resumeAsked = time.Now(), time.Time{}
		o.brakeEngagements++
	case !engaged && !o.engagedSince.IsZero():
		o.engagedSince, o.resumeAsked = time.Time{}, time.Time{}
	}
}

// endEpisode closes a pod's time outside. One that lasted longer than announceWithin while the
// operator and kube-apiserver were there, without an announcement by its end, is a violation the
// operator did not report.
func (o *observer) endEpisode(uid types.UID, now time.Time) {
	ep, ok := o.outside[uid]
	if !ok {
		return
	}
	delete(o.outside, uid)
	if now.Sub(ep.since) > announceWithin && o.undisturbed(ep.since, now) {
		o.checkedEpisodes++
		if a, announced := o.announced[ep.pod]; !announced || a.seen.After(now) {
			o.fail("pod %s ran on %s, outside the EU, for %s with the operator up and was not announced", ep.pod, ep.node, now.Sub(ep.since).Round(100*time.Millisecond))
		}
	}
}

func (o *observer) closeEpisodes(now time.Time) {
	for uid := range o.outside {
		o.endEpisode(uid, now)
	}
}

// load creates governed pods (and a few ungoverned ones) at a steady rate, deleting its oldest
// governed pod beyond governedCap, until done closes.
func (o *observer) load(done <-chan struct{}) {
	var live []string
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		case <-time.After(createEvery):
		}
		p := governedPod(o.ns, fmt.Sprintf("g-%04d", i))
		if i%7 == 0 {
			p.Name, p.Labels = fmt.Sprintf("u-%04d", i), map[string]string{"app": "ungoverned"}
		}
		err := k8sClient.Create(ctx, p)
		o.mu.Lock()
		if err != nil {
			o.createErrors++
			o.mu.Unlock()
			continue
		}
		o.created++
		o.mu.Unlock()
		if p.Labels["app"] != "governed" {
			continue
		}
		live = append(live, p.Name)
		if len(live) > governedCap {
			oldest := live[0]
			o.mu.Lock()
			o.deletedByLoad[oldest] = true
			o.mu.Unlock()
			if err := k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: oldest}}); client.IgnoreNotFound(err) == nil {
				live = live[1:]
			}
		}
	}
}

// relabel moves one EU node at a time to the US region and back, round robin, until done closes;
// then it moves every EU node home. A person does it: the region label and the confirmed region
// together (the region label alone would make the node Untrusted, in no jurisdiction).
func (o *observer) relabel(done <-chan struct{}) {
	setRegion := func(name, region string) bool {
		for range 100 { // kube-apiserver may be away for a few seconds
			node := &corev1.Node{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, node); err == nil {
				if node.Labels[corev1.LabelTopologyRegion] == region {
					return false
				}
				patch := client.MergeFrom(node.DeepCopy())
				node.Labels[corev1.LabelTopologyRegion] = region
				node.Labels[v1alpha1.ConfirmedRegionLabel] = region
				if err := k8sClient.Patch(ctx, node, patch); err == nil {
					return true
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		Fail("could not relabel node " + name)
		return false
	}
	defer func() {
		for _, name := range euNodes {
			setRegion(name, euRegion)
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		case <-time.After(relabelEvery - relabelOutFor):
		}
		name := euNodes[i%len(euNodes)]
		if setRegion(name, usRegion) {
			o.mu.Lock()
			o.relabels++
			o.mu.Unlock()
		}
		select {
		case <-done:
			return
		case <-time.After(relabelOutFor):
		}
		setRegion(name, euRegion)
	}
}

// resumeBrake is the person on call: when the brake engages, they look, and resume evictions
// resumeBrakeAfter later.
func (o *observer) resumeBrake(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-time.After(200 * time.Millisecond):
		}
		o.mu.Lock()
		due := !o.engagedSince.IsZero() && o.resumeAsked.IsZero() && time.Since(o.engagedSince) > resumeBrakeAfter
		o.mu.Unlock()
		if !due {
			continue
		}
		cm := &corev1.ConfigMap{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: controllers.BrakeConfigMap}, cm); err != nil {
			continue
		}
		patch := client.MergeFrom(cm.DeepCopy())
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[controllers.BrakeResumeAnnotation] = "true"
		if err := k8sClient.Patch(ctx, cm, patch); err == nil {
			o.mu.Lock()
			o.resumeAsked = time.Now()
			o.mu.Unlock()
		}
	}
}

// expectConverged compares the store's status with the truth the watches and a fresh list give.
func (o *observer) expectConverged(g Gomega) {
	store := &v1alpha1.PersonalDataStore{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "customers"}, store)).To(Succeed())
	var pods corev1.PodList
	g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(o.ns), client.MatchingLabels{"app": "governed"})).To(Succeed())
	governed := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			governed++
		}
	}
	g.Expect(store.Status.ObservedGeneration).To(Equal(store.Generation))
	g.Expect(store.Status.GovernedPods).To(BeEquivalentTo(governed), "governed pods")
	g.Expect(store.Status.ViolationCount).To(BeZero(), "every node is home")
	g.Expect(meta.IsStatusConditionTrue(store.Status.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
}
