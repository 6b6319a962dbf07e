//! ECS fixtures on the emulator: a cluster, a Fargate task definition, services with running tasks,
//! and standalone tasks — real RunTask / CreateService calls, as enrichment and remediation see them.

use crate::Emulator;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType,
    NetworkConfiguration, NetworkMode, Tag,
};

impl Emulator {
    /// An ECS client on the emulator.
    pub async fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk_config().await)
    }

    /// A subnet of the default VPC (the launcher enables DNS hostnames, which Fargate tasks need).
    pub fn default_subnet(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.http("GET", "/_vigil/default-subnet")).expect("subnet JSON");
        v["subnet_id"].as_str().expect("subnet id").to_owned()
    }

    /// Creates a cluster; returns its ARN.
    pub async fn create_cluster(&self, name: &str) -> String {
        let out = self
            .ecs()
            .await
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .expect("create cluster");
        out.cluster
            .and_then(|c| c.cluster_arn)
            .expect("cluster arn")
    }

    /// Registers a Fargate task definition with the named containers; returns its ARN.
    pub async fn register_task_definition(
        &self,
        family: &str,
        containers: &[(&str, &str)],
    ) -> String {
        let mut req = self
            .ecs()
            .await
            .register_task_definition()
            .family(family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .task_role_arn(format!(
                "arn:aws:iam::{}:role/{family}-task",
                Emulator::ACCOUNT
            ));
        for (name, image) in containers {
            req = req.container_definitions(
                ContainerDefinition::builder()
                    .name(*name)
                    .image(*image)
                    .essential(true)
                    .readonly_root_filesystem(false)
                    .build(),
            );
        }
        let out = req.send().await.expect("register task definition");
        out.task_definition
            .and_then(|t| t.task_definition_arn)
            .expect("task definition arn")
    }

    /// One running Fargate task (one container, `app`) in cluster `prod` of `account` in `region`,
    /// made with that account's own calls (the emulator takes a 12-digit access key id for the
    /// account); returns its ARN.
    pub async fn run_task_in(&self, account: &str, region: &str, family: &str) -> String {
        let config = self
            .sdk_config()
            .await
            .to_builder()
            .region(aws_sdk_ecs::config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(
                aws_sdk_ecs::config::Credentials::new(account, "testing", None, None, "testkit"),
            ))
            .build();
        let ecs = aws_sdk_ecs::Client::new(&config);
        ecs.create_cluster()
            .cluster_name("prod")
            .send()
            .await
            .expect("create cluster");
        let definition = ecs
            .register_task_definition()
            .family(family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("shop:3")
                    .essential(true)
                    .build(),
            )
            .send()
            .await
            .expect("register task definition")
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .expect("task definition arn");
        let subnet: serde_json::Value = serde_json::from_str(&self.http(
            "GET",
            &format!("/_vigil/default-subnet?region={region}&account={account}"),
        ))
        .expect("subnet JSON");
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(subnet["subnet_id"].as_str().expect("subnet id"))
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .expect("awsvpc config"),
            )
            .build();
        let out = ecs
            .run_task()
            .cluster("prod")
            .task_definition(definition)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .send()
            .await
            .expect("run task");
        out.tasks()
            .first()
            .and_then(|t| t.task_arn())
            .expect("task arn")
            .to_owned()
    }

    fn network(&self) -> NetworkConfiguration {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(self.default_subnet())
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .expect("awsvpc config"),
            )
            .build()
    }

    /// Runs `count` standalone Fargate tasks; returns their ARNs.
    pub async fn run_tasks(
        &self,
        cluster: &str,
        task_definition: &str,
        count: i32,
        tags: &[(&str, &str)],
    ) -> Vec<String> {
        let mut req = self
            .ecs()
            .await
            .run_task()
            .cluster(cluster)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .count(count)
            .network_configuration(self.network());
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        let out = req.send().await.expect("run task");
        out.tasks()
            .iter()
            .filter_map(|t| t.task_arn().map(str::to_owned))
            .collect()
    }

    /// Creates a Fargate service with `desired` running tasks (the launcher starts them); returns the
    /// service's task ARNs.
    pub async fn create_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        desired: i32,
        tags: &[(&str, &str)],
    ) -> Vec<String> {
        let ecs = self.ecs().await;
        let mut req = ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(task_definition)
            .desired_count(desired)
            .launch_type(LaunchType::Fargate)
            .network_configuration(self.network());
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        req.send().await.expect("create service");
        ecs.list_tasks()
            .cluster(cluster)
            .service_name(name)
            .send()
            .await
            .expect("list tasks")
            .task_arns()
            .to_vec()
    }

    /// The runtime id the launcher gives a container: sha256 of `TASK_ID/CONTAINER_NAME`, in hex.
    pub async fn runtime_id(&self, cluster: &str, task_arn: &str, container: &str) -> String {
        let out = self
            .ecs()
            .await
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .await
            .expect("describe");
        out.tasks()
            .iter()
            .flat_map(|t| t.containers())
            .find(|c| c.name() == Some(container))
            .and_then(|c| c.runtime_id())
            .expect("runtime id")
            .to_owned()
    }
}
