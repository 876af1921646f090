/* The "first instruction" guest (bench/machine_bench.py): the first
 * instructions molt runs write one byte, '!', to COM1's transmit register
 * (0x3f8 needs DX, so they are mov, mov, out), then it halts for good.
 * The time from exec to that byte on molt's serial output is exec ->
 * first guest instruction, plus three instructions and one port I/O exit.
 * No stack, no C, no device tree. */
    .section .text.start, "ax"
    .globl _start
    .code64
_start:
    mov $0x3f8, %edx
    mov $0x21, %al
    outb %al, %dx
1:  hlt
    jmp 1b

    .section .note.GNU-stack, "", @progbits
