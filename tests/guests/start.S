/* Entry of molt's test guests: molt enters in 64-bit mode with RIP at
 * _start; this sets a stack, calls guest_main(), and halts for good. */
    .section .text.start, "ax"
    .globl _start
    .code64
_start:
    lea stack_top(%rip), %rsp
    xor %ebp, %ebp
    call guest_main
1:  hlt
    jmp 1b

    .section .bss
    .balign 16
stack:
    .space 65536
stack_top:
