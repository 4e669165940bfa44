//! Containers on a strata-fs root filesystem: lifecycle, namespaces, cgroups.
