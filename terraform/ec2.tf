# Optional drift-test instance: change its tags or security group in the
# console and watch DriftGuard run a check. No inbound access; reach it with
# Session Manager if needed.

locals {
  ec2_family = split(".", var.ec2_instance_type)[0]
  # Graviton families carry a "g" after the generation digit (t4g, m7gd, c6gn, is4gen) or are a1.
  ec2_arch = local.ec2_family == "a1" || can(regex("^[a-z]+[0-9][a-z]*g[a-z]*$", local.ec2_family)) ? "arm64" : "x86_64"
}

data "aws_ssm_parameter" "al2023_ami" {
  count = var.create_test_ec2 && var.ec2_ami_id == "" ? 1 : 0

  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${local.ec2_arch}"
}

data "aws_subnet" "test_ec2" {
  count = var.create_test_ec2 && var.ec2_subnet_id != "" ? 1 : 0

  id = var.ec2_subnet_id
}

data "aws_vpc" "default" {
  count = var.create_test_ec2 && var.ec2_subnet_id == "" ? 1 : 0

  default = true
}

resource "aws_security_group" "test_ec2" {
  count = var.create_test_ec2 ? 1 : 0

  name        = "${local.name_prefix}-drift-test"
  description = "DriftGuard drift-test instance: no inbound, HTTPS out (SSM agent, package updates)"
  vpc_id      = var.ec2_subnet_id != "" ? data.aws_subnet.test_ec2[0].vpc_id : data.aws_vpc.default[0].id

  egress {
    description = "HTTPS to AWS APIs and package repositories"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

data "aws_iam_policy_document" "ec2_assume" {
  count = var.create_test_ec2 ? 1 : 0

  statement {
    sid     = "EC2AssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "test_ec2" {
  count = var.create_test_ec2 ? 1 : 0

  name               = "${local.name_prefix}-drift-test-ec2"
  description        = "DriftGuard drift-test instance (Session Manager only)"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume[0].json
}

resource "aws_iam_role_policy_attachment" "test_ec2_ssm" {
  count = var.create_test_ec2 && var.ec2_enable_session_manager ? 1 : 0

  role       = aws_iam_role.test_ec2[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "test_ec2" {
  count = var.create_test_ec2 ? 1 : 0

  name = "${local.name_prefix}-drift-test-ec2"
  role = aws_iam_role.test_ec2[0].name
}

resource "aws_instance" "test" {
  count = var.create_test_ec2 ? 1 : 0

  ami                         = var.ec2_ami_id != "" ? var.ec2_ami_id : nonsensitive(data.aws_ssm_parameter.al2023_ami[0].value)
  instance_type               = var.ec2_instance_type
  subnet_id                   = var.ec2_subnet_id != "" ? var.ec2_subnet_id : null
  vpc_security_group_ids      = [aws_security_group.test_ec2[0].id]
  key_name                    = var.ec2_key_name != "" ? var.ec2_key_name : null
  iam_instance_profile        = aws_iam_instance_profile.test_ec2[0].name
  associate_public_ip_address = false
  monitoring                  = var.ec2_detailed_monitoring
  ebs_optimized               = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    kms_key_id  = local.kms_key_arn
    volume_type = "gp3"
    volume_size = var.ec2_root_volume_size_gb
  }

  tags = merge(var.ec2_additional_tags, {
    Name = "${local.name_prefix}-drift-test"
  })

  lifecycle {
    ignore_changes = [ami]
  }
}
