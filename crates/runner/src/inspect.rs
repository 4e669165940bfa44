//! `inspect`: a container as Docker's `docker inspect` shows it, with the
//! fields strata has.

use serde_json::{json, Value};

use crate::config::ContainerConfig;
use crate::state::{State, Status};

pub fn inspect(cfg: &ContainerConfig, state: &State, dir: &std::path::Path) -> Value {
    let status = state.status;
    let zero_time = "0001-01-01T00:00:00Z";
    let env_list = |v: &[String]| -> Value {
        v.iter()
            .map(|k| (k.clone(), json!({})))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let r = &cfg.resources;
    json!({
        "Id": cfg.id,
        "Created": cfg.created,
        "Path": cfg.process.args.first(),
        "Args": cfg.process.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": status.name(),
            "Running": status == Status::Running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": state.oom_killed,
            "Dead": status == Status::Dead,
            "Pid": if status == Status::Running { state.pid.map_or(0, |p| p.pid) } else { 0 },
            "ExitCode": state.exit_code.unwrap_or(0),
            "Error": state.error.clone().unwrap_or_default(),
            "StartedAt": state.started_at.clone().unwrap_or_else(|| zero_time.into()),
            "FinishedAt": state.finished_at.clone().unwrap_or_else(|| zero_time.into()),
        },
        "Image": cfg.image,
        "Name": format!("/{}", cfg.name),
        "RestartCount": 0,
        "Driver": "strata-fs",
        "LogPath": dir.join(crate::logs::LOG_FILE),
        "HostConfig": {
            "NetworkMode": cfg.network.name(),
            "AutoRemove": cfg.auto_remove,
            "ReadonlyRootfs": cfg.read_only,
            "Memory": r.memory.unwrap_or(0),
            "MemorySwap": r.memory_swap.unwrap_or(0),
            "NanoCpus": r.cpus.map_or(0, |c| (c * 1e9) as i64),
            "CpuShares": r.cpu_shares.unwrap_or(0),
            "CpusetCpus": r.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": r.pids_limit,
        },
        "NetworkSettings": {
            "Ports": ports(cfg, state),
        },
        "GraphDriver": {
            "Name": "strata-fs",
            "Data": {
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
                "MergedDir": dir.join("rootfs"),
            },
        },
        "Config": {
            "Hostname": cfg.hostname,
            "User": cfg.process.user,
            "Env": cfg.process.env,
            "Image": cfg.image,
            "WorkingDir": cfg.process.cwd,
            "OpenStdin": cfg.process.stdin,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
            "Volumes": env_list(&cfg.image_config.volumes),
            "ExposedPorts": env_list(&cfg.image_config.exposed_ports),
        },
    })
}

/// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]}`: the bound
/// ports while running, the requested ones otherwise.
fn ports(cfg: &ContainerConfig, state: &State) -> Value {
    let list = if state.ports.is_empty() {
        &cfg.ports
    } else {
        &state.ports
    };
    let mut map = serde_json::Map::new();
    for p in list {
        let entry = json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()});
        let slot = map.entry(format!("{}/{}", p.container_port, p.protocol));
        if let Value::Array(a) = slot.or_insert_with(|| json!([])) {
            a.push(entry);
        }
    }
    Value::Object(map)
}

/// Docker prints `inspect` results as one JSON array.
pub fn to_array(items: Vec<Value>) -> Value {
    Value::Array(items)
}
