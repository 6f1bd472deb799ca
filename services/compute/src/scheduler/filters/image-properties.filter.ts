import type { HostFilter } from '../host-state.js';

/**
 * Image properties that constrain the host (Nova's ImagePropertiesFilter): `hypervisor_type` /
 * `img_hv_type` must name the host's hypervisor. (Architecture: every Kumo host is x86_64.)
 */
export const imagePropertiesFilter: HostFilter = {
  name: 'ImagePropertiesFilter',
  passes: (h, s) => {
    const hv = s.imageProperties.img_hv_type ?? s.imageProperties.hypervisor_type;
    if (hv && hv.toLowerCase() !== h.hypervisorType.toLowerCase() && !(hv === 'qemu' && h.hypervisorType === 'kvm')) return false;
    const arch = s.imageProperties.hw_architecture ?? s.imageProperties.architecture;
    return !arch || ['x86_64', 'amd64'].includes(arch.toLowerCase());
  },
};
