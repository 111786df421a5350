# Batch resources with tags, as a Terraform user writes them, against batchd at var.endpoint.
# tests/acceptance/test_terraform.py applies, re-plans, changes a tag and destroys this configuration.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "endpoint" {
  type = string
}

variable "prefix" {
  type = string
}

variable "team" {
  type    = string
  default = "batch"
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {
    batch = var.endpoint
  }
}

resource "aws_batch_compute_environment" "managed" {
  compute_environment_name = "${var.prefix}-managed"
  type                     = "MANAGED"
  state                    = "ENABLED"

  compute_resources {
    type               = "EC2"
    min_vcpus          = 0
    max_vcpus          = 4
    instance_type      = ["optimal"]
    instance_role      = "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole"
    subnets            = ["subnet-0123456789abcdef0"]
    security_group_ids = ["sg-0123456789abcdef0"]
  }

  tags = {
    team = var.team
    env  = "test"
  }
}

resource "aws_batch_compute_environment" "unmanaged" {
  compute_environment_name = "${var.prefix}-unmanaged"
  type                     = "UNMANAGED"
  # AWS creates no service-linked role for an UNMANAGED environment: it must be named.
  service_role = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"

  tags = {
    team = var.team
  }
}

resource "aws_batch_job_queue" "queue" {
  name     = "${var.prefix}-queue"
  state    = "ENABLED"
  priority = 10

  compute_environment_order {
    order               = 1
    compute_environment = aws_batch_compute_environment.managed.arn
  }

  compute_environment_order {
    order               = 2
    compute_environment = aws_batch_compute_environment.unmanaged.arn
  }

  tags = {
    team = var.team
  }
}

resource "aws_batch_job_definition" "hello" {
  name = "${var.prefix}-hello"
  type = "container"

  container_properties = jsonencode({
    image   = "busybox:latest"
    command = ["echo", "hello from terraform"]
    resourceRequirements = [
      { type = "VCPU", value = "1" },
      { type = "MEMORY", value = "64" },
    ]
    environment = [
      { name = "GREETING", value = "hello" },
    ]
  })

  retry_strategy {
    attempts = 2
  }

  timeout {
    attempt_duration_seconds = 60
  }

  tags = {
    team = var.team
  }
}

output "compute_environment_arn" {
  value = aws_batch_compute_environment.managed.arn
}

output "unmanaged_compute_environment_arn" {
  value = aws_batch_compute_environment.unmanaged.arn
}

output "job_queue_arn" {
  value = aws_batch_job_queue.queue.arn
}

output "job_definition_arn" {
  value = aws_batch_job_definition.hello.arn
}
