package webhook_test

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

// userRoles installs the ClusterRoles for people exactly as config/rbac/user_roles.yaml ships
// them (kustomize prefixes them with residency-; here they keep their bare names).
func userRoles() {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "user_roles.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(data), "\n---\n") {
		role := &rbacv1.ClusterRole{}
		Expect(yaml.UnmarshalStrict([]byte(doc), role)).To(Succeed())
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, role))).To(Succeed())
	}
}

// grant binds a ClusterRole to a user in a namespace.
func grant(ns, user, role string) {
	GinkgoHelper()
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}))).To(Succeed())
}

// as is a client that the API server authenticates as user: what that user's kubectl does.
func as(user string) client.Client {
	GinkgoHelper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

func legalHold(ns, name string, expires time.Duration) *v1alpha1.ResidencyException {
	return &v1alpha1.ResidencyException{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ResidencyExceptionSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "legal-export"}},
			Stores:   []v1alpha1.ObjectName{"customer-db"}, Reason: v1alpha1.Migration,
			Justification: "Moving the customer records to the new EU cluster.", ApprovedBy: "ciso@example.com",
			ExpiresAt: metav1.NewTime(time.Now().Add(expires)),
		},
	}
}

// decide writes a decision as kubectl residency approve|deny does: a merge patch of the status.
func decide(c client.Client, ex *v1alpha1.ResidencyException, decision v1alpha1.ApprovalDecision) error {
	body := []byte(`{"status":{"approval":{"decision":"` + string(decision) + `"}}}`)
	return c.Status().Patch(ctx, ex, client.RawPatch(types.MergePatchType, body))
}

// approve has bob, an approver who requested nothing, approve the exception.
func approve(ex *v1alpha1.ResidencyException) {
	GinkgoHelper()
	grant(ex.Namespace, "bob", "approver")
	Expect(decide(as("bob"), ex, v1alpha1.Approved)).To(Succeed())
}

func activeReason(ns, name string) func(Gomega) string {
	return func(g Gomega) string {
		ex := &v1alpha1.ResidencyException{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ex)).To(Succeed())
		cond := meta.FindStatusCondition(ex.Status.Conditions, v1alpha1.ActiveCondition)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.ObservedGeneration).To(Equal(ex.Generation))
		return cond.Reason
	}
}

// The self-approval measured on the demo cluster: a user with the namespace's edit role and the
// editor role created an exception saying "approvedBy: ciso" and it was Active 5 s later.
var _ = Describe("ResidencyException approval", Ordered, func() {
	const ns = "approvals"
	BeforeAll(func() {
		namespace(ns)
		userRoles()
		grant(ns, "alice", "edit")
		grant(ns, "alice", "editor")
		store(ns, "customer-db", v1alpha1.Enforce, map[string]string{"app": "db"}, "eu")
	})

	It("records the requester from the API server, whatever the request claims, and stays pending", func() {
		ex := legalHold(ns, "self-approved", 7*24*time.Hour)
		ex.Spec.Requester = &v1alpha1.ExceptionRequester{Username: "ciso@example.com"}
		Expect(as("alice").Create(ctx, ex)).To(Succeed())
		Expect(ex.Spec.Requester).NotTo(BeNil())
		Expect(ex.Spec.Requester.Username).To(Equal("alice"))
		Expect(ex.Spec.Requester.Groups).To(ContainElement("system:authenticated"))
		Expect(engine.ExceptionActive(ex, time.Now())).To(BeFalse())
		Eventually(activeReason(ns, ex.Name)).Should(Equal(v1alpha1.ReasonPendingApproval))

		By("the requester cannot be rewritten later")
		patch := client.MergeFrom(ex.DeepCopy())
		ex.Spec.Requester = &v1alpha1.ExceptionRequester{Username: "ciso@example.com"}
		Expect(as("alice").Patch(ctx, ex, patch)).To(Succeed())
		Expect(ex.Spec.Requester.Username).To(Equal("alice"), "the webhook keeps the recorded requester")
	})

	It("lets a namespace owner read the namespace's AdmissionPlan, never write it", func() {
		// What a tenant with every shipped role in the namespace would use to loosen placement:
		// kube-apiserver places pods from this plan.
		grant(ns, "alice", "admin")
		grant(ns, "alice", "viewer")
		plan := &v1alpha1.AdmissionPlan{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.AdmissionPlanName, Namespace: ns}}
		Expect(apierrors.IsForbidden(as("alice").Create(ctx, plan.DeepCopy()))).To(BeTrue(), "alice created a plan")
		// RBAC answers before the object is looked up: these hold whether or not a plan exists.
		err := as("alice").Get(ctx, client.ObjectKeyFromObject(plan), &v1alpha1.AdmissionPlan{})
		Expect(err == nil || apierrors.IsNotFound(err)).To(BeTrue(), "alice may read plans: %v", err)
		edited := plan.DeepCopy()
		edited.ResourceVersion = "1"
		Expect(apierrors.IsForbidden(as("alice").Update(ctx, edited))).To(BeTrue(), "alice rewrote the plan")
		Expect(apierrors.IsForbidden(as("alice").Delete(ctx, plan))).To(BeTrue(), "alice deleted the plan")
	})

	It("refuses a decision by the editor, who has no right to the status", func() {
		ex := &v1alpha1.ResidencyException{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "self-approved"}, ex)).To(Succeed())
		err := decide(as("alice"), ex, v1alpha1.Approved)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
	})

	It("refuses the requester's own approval even when they hold the approver role", func() {
		grant(ns, "alice", "approver")
		DeferCleanup(func() {
			Expect(k8sClient.Delete(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-approver", Namespace: ns}})).To(Succeed())
		})
		ex := &v1alpha1.ResidencyException{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "self-approved"}, ex)).To(Succeed())
		expectForbidden(decide(as("alice"), ex, v1alpha1.Approved), "alice requested it and cannot decide on it")
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "self-approved"}, ex)).To(Succeed())
		Expect(ex.Status.Approval).To(BeNil())
	})

	It("refuses a decision by someone who may write the status but lacks the approve verb", func() {
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "status-writer", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group},
				Resources: []string{"residencyexceptions", "residencyexceptions/status"}, Verbs: []string{"get", "update", "patch"}}},
		}))).To(Succeed())
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "carol-status-writer", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "status-writer"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"}},
		}))).To(Succeed())
		ex := &v1alpha1.ResidencyException{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "self-approved"}, ex)).To(Succeed())
		expectForbidden(decide(as("carol"), ex, v1alpha1.Approved), `carol may not decide on exceptions`, `"approve" verb`, "residency-approver")
	})

	It("makes an exception Active once an approver who did not request it approves, and records who", func() {
		ex := &v1alpha1.ResidencyException{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "self-approved"}, ex)).To(Succeed())
		approve(ex)
		Expect(ex.Status.Approval).NotTo(BeNil())
		Expect(ex.Status.Approval.User).To(Equal("bob"))
		Expect(ex.Status.Approval.Generation).To(Equal(ex.Generation))
		Expect(ex.Status.Approval.DecidedAt).NotTo(BeNil())
		Expect(engine.ExceptionActive(ex, time.Now())).To(BeTrue())
		Eventually(activeReason(ns, ex.Name)).Should(Equal(v1alpha1.ReasonWithinWindow))

		By("the operator's own status writes keep the decision")
		Consistently(func(g Gomega) {
			got := &v1alpha1.ResidencyException{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ex), got)).To(Succeed())
			g.Expect(got.Status.Approval).To(Equal(ex.Status.Approval))
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("voids the approval when the spec changes", func() {
		ex := &v1alpha1.ResidencyException{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "self-approved"}, ex)).To(Succeed())
		patch := client.MergeFrom(ex.DeepCopy())
		ex.Spec.Selector.MatchLabels = map[string]string{"app": "db"} // now it would exempt the whole database
		Expect(as("alice").Patch(ctx, ex, patch)).To(Succeed())
		Expect(engine.ExceptionActive(ex, time.Now())).To(BeFalse())
		Expect(engine.ExceptionApproval(ex)).To(Equal(v1alpha1.ReasonApprovalOutdated))
		Eventually(activeReason(ns, ex.Name)).Should(Equal(v1alpha1.ReasonApprovalOutdated))
	})

	It("records a denial, and a withdrawal, by an approver", func() {
		ex := legalHold(ns, "denied", 24*time.Hour)
		Expect(as("alice").Create(ctx, ex)).To(Succeed())
		grant(ns, "bob", "approver")
		Expect(decide(as("bob"), ex, v1alpha1.Denied)).To(Succeed())
		Expect(ex.Status.Approval.User).To(Equal("bob"))
		Eventually(activeReason(ns, ex.Name)).Should(Equal(v1alpha1.ReasonApprovalDenied))
		Expect(as("bob").Status().Patch(ctx, ex, client.RawPatch(types.MergePatchType, []byte(`{"status":{"approval":null}}`)))).To(Succeed())
		Eventually(activeReason(ns, ex.Name)).Should(Equal(v1alpha1.ReasonPendingApproval))
	})

	It("refuses a window longer than the maximum, at creation and by an edit", func() {
		expectForbidden(as("alice").Create(ctx, legalHold(ns, "a-year", 365*24*time.Hour)),
			"may last at most 720h0m0s", "--max-exception-duration", "set an earlier expiresAt")
		ex := legalHold(ns, "stretched", 24*time.Hour)
		Expect(as("alice").Create(ctx, ex)).To(Succeed())
		patch := client.MergeFrom(ex.DeepCopy())
		ex.Spec.ExpiresAt = metav1.NewTime(time.Now().AddDate(1, 0, 0))
		expectForbidden(as("alice").Patch(ctx, ex, patch), "may last at most")

		By("a short window that starts later is fine")
		later := legalHold(ns, "next-quarter", 0)
		later.Spec.StartsAt = &metav1.Time{Time: time.Now().AddDate(0, 3, 0)}
		later.Spec.ExpiresAt = metav1.NewTime(later.Spec.StartsAt.Add(14 * 24 * time.Hour))
		Expect(as("alice").Create(ctx, later)).To(Succeed())
	})

	It("records who loosened a store, and how, in a Warning Event on it", func() {
		st := &v1alpha1.PersonalDataStore{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "customer-db"}, st)).To(Succeed())
		patch := client.MergeFrom(st.DeepCopy())
		st.Spec.Enforcement = v1alpha1.Audit
		st.Spec.AllowedJurisdictions = append(st.Spec.AllowedJurisdictions, "us")
		Expect(as("alice").Patch(ctx, st, patch)).To(Succeed())
		Eventually(func(g Gomega) []string {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var notes []string
			for _, e := range list.Items {
				if e.Reason == residencywebhook.EventPolicyLoosened && e.Regarding.Name == "customer-db" {
					notes = append(notes, e.Note)
				}
			}
			return notes
		}).Should(ContainElement(And(HavePrefix("alice loosened the store"), ContainSubstring("enforcement Enforce -> Audit"), ContainSubstring("allowedJurisdictions adds us"))))
	})

	It("refuses a selector that asks nothing (the schema)", func() {
		ex := legalHold(ns, "catch-all", 24*time.Hour)
		ex.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpDoesNotExist}}}
		err := as("alice").Create(ctx, ex)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("selector must ask something of what it exempts"))
	})
})
