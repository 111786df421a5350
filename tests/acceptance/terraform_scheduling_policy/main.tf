# A fair-share scheduling policy and a job queue using it, against batchd at var.endpoint.
# tests/acceptance/test_terraform.py applies, re-plans, changes one share's weight and destroys it.

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

variable "heavy_weight" {
  type    = number
  default = 0.5
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

resource "aws_batch_scheduling_policy" "fair" {
  name = "${var.prefix}-policy"

  fair_share_policy {
    compute_reservation = 25
    share_decay_seconds = 3600

    share_distribution {
      share_identifier = "teamA"
      weight_factor    = var.heavy_weight
    }

    share_distribution {
      share_identifier = "teamB*"
      weight_factor    = 1
    }
  }

  tags = {
    team = "batch"
  }
}

resource "aws_batch_compute_environment" "unmanaged" {
  compute_environment_name = "${var.prefix}-unmanaged"
  type                     = "UNMANAGED"
  service_role             = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
}

resource "aws_batch_job_queue" "fair" {
  name                  = "${var.prefix}-fair"
  state                 = "ENABLED"
  priority              = 1
  scheduling_policy_arn = aws_batch_scheduling_policy.fair.arn

  compute_environment_order {
    order               = 1
    compute_environment = aws_batch_compute_environment.unmanaged.arn
  }
}

output "scheduling_policy_arn" {
  value = aws_batch_scheduling_policy.fair.arn
}

output "job_queue_arn" {
  value = aws_batch_job_queue.fair.arn
}
