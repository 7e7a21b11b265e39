//! `apply --dry-run --emit k8s`: the Kubernetes plan as YAML. Decides nothing;
//! [`crate::apply::kubernetes`] placed every key.
//!
//! Written by hand rather than through a YAML crate: serde_yaml is archived,
//! and the document is one small fixed shape. Every scalar that comes from the
//! host or the command line is written as a JSON string, which is a valid YAML
//! double-quoted scalar with every control character escaped — so no value
//! can break the document's structure, and sysctl values stay strings, as
//! the Pod API requires.

use crate::apply::kubernetes::{K8sPlan, allowed_unsafe_flag};

fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

pub fn yaml(plan: &K8sPlan) -> String {
    let mut out = String::new();
    let kernel = match plan.kernel {
        Some(kernel) => kernel.to_string(),
        None => "unknown".to_string(),
    };
    out.push_str(&format!(
        "# twtune's plan for Kubernetes {} on a node with Linux {kernel}.\n",
        plan.version
    ));
    out.push_str(
        "# A pod's network namespace starts from the kernel's defaults, not from this\n\
         # node's values: `twtune check --netns PID` shows a running pod's own.\n",
    );
    out.push_str(&format!(
        "kubernetesVersion: {}\n",
        quoted(&plan.version.to_string())
    ));
    out.push_str(&format!("nodeKernel: {}\n", quoted(&kernel)));

    out.push_str("# Safe sysctls: any pod may set them. Merge into the pod template's spec.\n");
    out.push_str("pod:\n  spec:\n    securityContext:\n");
    sysctl_list(&mut out, "      ", &plan.pod_safe);

    out.push_str(
        "# Per network namespace, but the kubelet refuses a pod that sets them until it\n\
         # allows them (flag below, or allowedUnsafeSysctls in its configuration file);\n\
         # then add them to the same securityContext.sysctls list.\n",
    );
    out.push_str("unsafe:\n");
    sysctl_list(&mut out, "  ", &plan.pod_unsafe);
    match allowed_unsafe_flag(plan) {
        Some(flag) => {
            out.push_str(&format!("  kubeletFlag: {}\n", quoted(&flag)));
            out.push_str("  kubeletConfiguration:\n    allowedUnsafeSysctls:\n");
            for setting in &plan.pod_unsafe {
                out.push_str(&format!("    - {}\n", quoted(setting.key.as_str())));
            }
        }
        None => {
            out.push_str("  kubeletFlag: null\n");
            out.push_str("  kubeletConfiguration:\n    allowedUnsafeSysctls: []\n");
        }
    }

    out.push_str(
        "# Node settings: one value for the whole node. Set them on the node itself\n\
         # (its sysctl.d, or `twtune apply` there), not in a pod.\n",
    );
    reasoned_list(&mut out, "node", &plan.node);
    out.push_str(
        "# kube-proxy's settings: it writes these at every start, over the node's files.\n",
    );
    reasoned_list(&mut out, "kubeProxy", &plan.kube_proxy);
    out
}

fn reasoned_list(out: &mut String, name: &str, list: &[crate::apply::kubernetes::NodeSetting]) {
    if list.is_empty() {
        out.push_str(&format!("{name}: []\n"));
        return;
    }
    out.push_str(&format!("{name}:\n"));
    for node in list {
        out.push_str(&format!("- name: {}\n", quoted(node.setting.key.as_str())));
        out.push_str(&format!("  value: {}\n", quoted(&node.setting.value)));
        out.push_str(&format!("  reason: {}\n", quoted(&node.reason)));
    }
}

fn sysctl_list(out: &mut String, indent: &str, settings: &[crate::apply::kubernetes::Setting]) {
    if settings.is_empty() {
        out.push_str(&format!("{indent}sysctls: []\n"));
        return;
    }
    out.push_str(&format!("{indent}sysctls:\n"));
    for setting in settings {
        out.push_str(&format!(
            "{indent}- name: {}\n",
            quoted(setting.key.as_str())
        ));
        out.push_str(&format!("{indent}  value: {}\n", quoted(&setting.value)));
    }
}
