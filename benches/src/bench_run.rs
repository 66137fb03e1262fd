//! [`run`]: one `order-bench run`, every workload against every system, in sequence.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::ModeArg;
use crate::load_loop::{preload, run_phase};
use crate::orderstore_driver::OrderstoreDriver;
use crate::purchase_load::{PurchaseTiming, run_flash_sale, run_saga_throughput};
use crate::report::NOT_APPLICABLE;
use crate::{
    BenchError, Driver, DriverConfig, LoadPlan, LoopMode, MachineInfo, PurchaseParams, Report,
    RunArgs, RunMeta, System, SystemResult, Workload, WorkloadResult,
};

/// Longest a preload may take before the system is reported as failed.
const PRELOAD_DEADLINE: Duration = Duration::from_secs(120);

/// Runs every workload of `args` against every system of `args.against`, one system at a time
/// (they share the machine, so only one is loaded at any moment), in the order given. For each:
/// connect, preload if the workload needs existing orders, warm up, measure, disconnect.
///
/// A system that cannot be connected or preloaded is recorded with its failure and the run goes
/// on; only bad arguments or an unreadable manifest abort it ([`BenchError::InvalidArgs`],
/// [`BenchError::Manifest`]).
pub async fn run(args: &RunArgs, command: String) -> Result<Report, BenchError> {
    let mode = args.loop_mode()?;
    let mut orderstore_endpoints = args.orderstore_endpoints.clone();
    if let Some(manifest) = &args.orderstore_manifest {
        orderstore_endpoints.extend(manifest_endpoints(manifest)?);
    }
    let config = DriverConfig {
        orderstore_endpoints,
        etcd_endpoints: args.etcd_endpoints.clone(),
        postgres_url: args.postgres_url.clone(),
        grpc_connections: args.grpc_connections,
        clients: args.clients,
        op_timeout: args.op_timeout,
        orderstore_max_retries: args.orderstore_max_retries,
    };
    let meta = RunMeta {
        command,
        started_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        git_commit: args.git_commit.clone(),
        machine: MachineInfo::detect(),
    };
    let mut workloads = Vec::new();
    let purchase_params = if args.workload.iter().any(|w| w.is_purchase()) {
        if matches!(mode, LoopMode::Open { .. }) {
            return Err(BenchError::InvalidArgs(
                "flash-sale and saga-throughput run closed loop only (drop --mode open)".into(),
            ));
        }
        Some(PurchaseParams::from_args(args)?)
    } else {
        None
    };
    for &workload in &args.workload {
        if let (true, Some(params)) = (workload.is_purchase(), &purchase_params) {
            workloads.push(run_purchase_workload(workload, params, args, &config).await?);
            continue;
        }
        let plan = LoadPlan {
            workload,
            mode,
            warmup: args.effective_warmup(),
            duration: args.effective_duration(),
            max_ops: args.max_ops,
            op_timeout: args.op_timeout,
            consistency: args.read_consistency,
            seed: args.seed,
        };
        let mut systems = Vec::new();
        for &system in &args.against {
            let label = format!("[{system} {workload}]");
            let outcome = measure(system, &config, &plan, args, &label).await;
            systems.push(match outcome {
                Ok(summary) => SystemResult {
                    system,
                    summary: Some(summary),
                    failure: None,
                },
                Err(e @ BenchError::InvalidArgs(_)) => return Err(e),
                Err(e) => {
                    eprintln!("{label} not measured: {e}");
                    SystemResult {
                        system,
                        summary: None,
                        failure: Some(e.to_string()),
                    }
                }
            });
        }
        let mut result = WorkloadResult {
            workload,
            mode: match args.mode {
                ModeArg::Closed => "closed".into(),
                ModeArg::Open => "open".into(),
            },
            clients: args.clients,
            rate: match mode {
                LoopMode::Open { rate, .. } => Some(rate),
                LoopMode::Closed { .. } => None,
            },
            warmup_s: plan.warmup.as_secs_f64(),
            duration_s: plan.duration.as_secs_f64(),
            read_consistency: args.read_consistency,
            systems,
            ratios: Vec::new(),
            purchases: None,
        };
        result.compute_ratios();
        workloads.push(result);
    }
    Ok(Report { meta, workloads })
}

/// One purchase workload: measured on orderstore; every other system of `--against` is
/// recorded as not applicable (no inventory, payments or saga), so there are no ratios.
async fn run_purchase_workload(
    workload: Workload,
    params: &PurchaseParams,
    args: &RunArgs,
    config: &DriverConfig,
) -> Result<WorkloadResult, BenchError> {
    let flash = workload == Workload::FlashSale;
    let timing = PurchaseTiming {
        clients: args.clients,
        warmup: if flash {
            Duration::ZERO
        } else {
            args.effective_warmup()
        },
        duration: if flash {
            args.effective_sale_duration()
        } else {
            args.effective_duration()
        },
        max_ops: args.max_ops,
        op_timeout: args.op_timeout,
        seed: args.seed,
    };
    let mut systems = Vec::new();
    let mut purchases = None;
    for &system in &args.against {
        let label = format!("[{system} {workload}]");
        if system != System::Orderstore {
            let why = format!(
                "{NOT_APPLICABLE}: {system} has no inventory, payments or saga; {workload} is \
                 measured on orderstore only"
            );
            eprintln!("{label} {why}");
            systems.push(SystemResult {
                system,
                summary: None,
                failure: Some(why),
            });
            continue;
        }
        let outcome = async {
            let d = OrderstoreDriver::connect(config).await?;
            if flash {
                run_flash_sale(&d, params, &timing, &label).await
            } else {
                run_saga_throughput(&d, params, &timing, &label).await
            }
        }
        .await;
        systems.push(match outcome {
            Ok((summary, figures)) => {
                purchases = Some(figures);
                SystemResult {
                    system,
                    summary: Some(summary),
                    failure: None,
                }
            }
            Err(e @ BenchError::InvalidArgs(_)) => return Err(e),
            Err(e) => {
                eprintln!("{label} not measured: {e}");
                SystemResult {
                    system,
                    summary: None,
                    failure: Some(e.to_string()),
                }
            }
        });
    }
    Ok(WorkloadResult {
        workload,
        mode: "closed".into(),
        clients: args.clients,
        rate: None,
        warmup_s: timing.warmup.as_secs_f64(),
        duration_s: timing.duration.as_secs_f64(),
        read_consistency: args.read_consistency,
        systems,
        ratios: Vec::new(),
        purchases,
    })
}

async fn measure(
    system: crate::System,
    config: &DriverConfig,
    plan: &LoadPlan,
    args: &RunArgs,
    label: &str,
) -> Result<crate::Summary, BenchError> {
    let driver = Arc::new(Driver::connect(system, config).await?);
    let keys = if plan.workload.needs_preload() {
        let wanted = args.effective_preload();
        eprintln!("{label} preloading {wanted} orders");
        preload(
            driver.clone(),
            wanted,
            args.clients,
            args.op_timeout,
            PRELOAD_DEADLINE,
            args.seed,
        )
        .await?
    } else {
        Vec::new()
    };
    let outcome = run_phase(driver, plan, Arc::new(keys), label).await?;
    if outcome.stats.ok_count() == 0 && outcome.stats.error_count() > 0 {
        return Err(BenchError::AllFailed {
            system,
            workload: plan.workload.to_string(),
            errors: outcome.stats.error_count(),
            example: outcome
                .stats
                .example_error()
                .unwrap_or_default()
                .to_string(),
        });
    }
    Ok(outcome.stats.summary(outcome.measured))
}

/// The `endpoints` of an orderstore playground manifest (`DIR/cluster.json`).
fn manifest_endpoints(path: &Path) -> Result<Vec<String>, BenchError> {
    let err = |message: String| BenchError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    parse_manifest_endpoints(&text).map_err(err)
}

fn parse_manifest_endpoints(text: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let endpoints: Vec<String> = value
        .get("endpoints")
        .and_then(|e| e.as_array())
        .ok_or("no \"endpoints\" array")?
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect();
    if endpoints.is_empty() {
        return Err("\"endpoints\" is empty".into());
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_endpoints_are_read_and_checked() {
        let ok = r#"{"cluster_name":"pg","endpoints":["127.0.0.1:7001","127.0.0.1:7002"]}"#;
        assert_eq!(
            parse_manifest_endpoints(ok).unwrap(),
            vec!["127.0.0.1:7001", "127.0.0.1:7002"]
        );
        assert!(parse_manifest_endpoints(r#"{"endpoints":[]}"#).is_err());
        assert!(parse_manifest_endpoints(r#"{"nodes":[]}"#).is_err());
        assert!(parse_manifest_endpoints("not json").is_err());
    }
}
